"""Writes of the inbound gateway: spooling an accepted message durably, ingesting it, sweeping the spool.

Durability order (the 250 depends on it): the raw message is encrypted under a fresh data key into a blob
(temporary file, fsync, rename, fsync of the directory), then the spool row — carrying the data key wrapped
under the master key for transit — is committed with synchronous commit, and only then does the server say
250. The ingest task is enqueued on commit; if the broker is down the row stays `received` and the sweeper
re-queues it, so an accepted message is never lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import Outcome
from apps.audit.services import record_event
from apps.crypto import keys
from apps.crypto.envelope import DecryptionError, aad_for
from apps.crypto.stream import StreamEncryptor, decrypt_stream
from apps.gateway.models import InboundMessage, SpoolState
from apps.messaging import blobs

logger = logging.getLogger(__name__)

SPOOL_PURPOSE = "spool"
# Plaintext over this size goes to disk while ingesting: never more than a segment or two in memory.
_INGEST_MEMORY_BYTES = 1024 * 1024


@dataclass
class SpoolEnvelope:
    """What the SMTP transaction established: who sent, to whom, over which authenticated connection."""

    sender: str
    recipients: list[str]
    peer_dn: str
    peer_ip: str | None = None
    helo: str = ""
    tls_version: str = ""


def spool_aad(spool_id: uuid.UUID | str) -> bytes:
    return aad_for("inbound-spool", spool=spool_id)


def _write_blob(spool_id: uuid.UUID, raw: bytes, data_key: bytes) -> tuple[str, str]:
    name = blobs.new_name()
    with blobs.writer(name) as handle:
        encryptor = StreamEncryptor(handle, data_key, aad=spool_aad(spool_id))
        encryptor.write(raw)
        result = encryptor.close()
    return name, result.sha256


def _synchronous_commit() -> None:
    """The 250 promises the message survives a crash: no role or database setting may relax the WAL flush.

    Set once per database session (a round trip per message otherwise); a new session sets it again.
    """
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    session = connection.connection
    if getattr(session, "_gateway_synchronous_commit", False):
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    session._gateway_synchronous_commit = True


def do_spool_message(
    raw: bytes, envelope: SpoolEnvelope, *, spool_id: uuid.UUID | None = None
) -> InboundMessage:
    """Store `raw` durably and commit its spool row; raises (and leaves nothing behind) on any failure."""
    spool_id = spool_id or uuid.uuid4()
    data_key = keys.new_data_key()
    name, sha256 = _write_blob(spool_id, raw, data_key)
    try:
        _synchronous_commit()  # outside the transaction: a rolled-back SET would be undone
        with transaction.atomic():
            spool = InboundMessage.objects.create(
                id=spool_id,
                envelope_sender=envelope.sender,
                recipients=envelope.recipients,
                peer_dn=envelope.peer_dn[:1000],
                peer_ip=envelope.peer_ip,
                helo=envelope.helo[:255],
                tls_version=envelope.tls_version,
                size=len(raw),
                sha256=sha256,
                blob=name,
                key_wrap=keys.wrap_transit_key(data_key, purpose=SPOOL_PURPOSE, object_id=spool_id),
            )
            record_event(
                "gateway.message_received",
                target=spool,
                actor_label=envelope.peer_dn[:254],
                details={
                    "sender": envelope.sender,
                    "recipients": envelope.recipients,
                    "size": len(raw),
                    "peer_ip": envelope.peer_ip,
                },
            )
            transaction.on_commit(lambda: enqueue_ingest(spool_id), robust=True)
    except BaseException:
        blobs.delete_blob(name)
        raise
    return spool


def enqueue_ingest(spool_id: uuid.UUID | str) -> None:
    """Publish the ingest task; a broker failure is only logged: the row is safe and the sweeper retries."""
    from apps.gateway.tasks import ingest_inbound

    try:
        ingest_inbound.apply_async(args=[str(spool_id)], retry=False)
    except Exception:
        logger.warning("gateway: could not enqueue ingest of %s (broker down?); the sweeper will", spool_id)


class SpoolCorrupt(Exception):
    """The spooled blob cannot be read back as it was accepted: retrying will not help."""


def open_plaintext(spool: InboundMessage) -> BinaryIO:
    """The raw message decrypted into a temporary file (memory up to 1 MiB), checked against its SHA-256."""
    if spool.key_wrap is None or not spool.blob:
        raise SpoolCorrupt(f"spool {spool.pk}: no blob or key left to read")
    plaintext: Any = tempfile.SpooledTemporaryFile(max_size=_INGEST_MEMORY_BYTES)  # noqa: SIM115 (returned)
    try:
        data_key = keys.unwrap_transit_key(bytes(spool.key_wrap), purpose=SPOOL_PURPOSE, object_id=spool.pk)
        with blobs.open_blob(spool.blob) as src:
            result = decrypt_stream(src, plaintext, data_key, aad=spool_aad(spool.pk))
        if result.sha256 != spool.sha256:
            raise SpoolCorrupt(f"spool {spool.pk}: SHA-256 of the decrypted message does not match the row")
    except (DecryptionError, FileNotFoundError) as exc:
        plaintext.close()
        raise SpoolCorrupt(f"spool {spool.pk}: {exc}") from exc
    except BaseException:
        plaintext.close()
        raise
    plaintext.seek(0)
    return plaintext


def do_ingest(spool_id: uuid.UUID | str) -> object | None:
    """Hand a spooled message to messaging (same service as local mail); idempotent; the message id or None.

    The row is locked for the whole ingest so two workers never run it at once, and the idempotency key makes
    a replay after a crash between the deposit and this commit return the already stored message.
    """
    from apps.messaging.services import do_receive_message

    spool = InboundMessage.objects.filter(pk=spool_id, state=SpoolState.RECEIVED).first()
    if spool is None:
        return None
    with open_plaintext(spool) as raw, transaction.atomic():
        locked = InboundMessage.objects.select_for_update().filter(pk=spool.pk, state=SpoolState.RECEIVED)
        if not locked.exists():
            return None
        message = do_receive_message(
            raw=raw,
            envelope_sender=spool.envelope_sender,
            recipients=list(spool.recipients),
            origin="smtp",
            peer=spool.peer_dn,
            idempotency_key=f"smtp:{spool.pk}",
        )
        # None: a DSN/MDN about one of our messages, consumed by messaging's report handler.
        message_id = message.pk if message is not None else None
        do_mark_ingested(spool, message_id)
        return message_id


def do_mark_ingested(spool: InboundMessage, message_id: object) -> None:
    """Inside the ingest transaction: the row is done, its transit key goes, its blob after commit."""
    now = timezone.now()
    updated = InboundMessage.objects.filter(pk=spool.pk, state=SpoolState.RECEIVED).update(
        state=SpoolState.INGESTED,
        state_changed_at=now,
        ingested_at=now,
        message_id=message_id,
        key_wrap=None,
        last_error="",
    )
    if updated:
        name = spool.blob
        transaction.on_commit(lambda: blobs.delete_blob(name))


def do_record_attempt(spool_id: uuid.UUID | str, error: str) -> int:
    """Count a failed ingest attempt (own transaction); returns the number of attempts so far."""
    with transaction.atomic():
        spool = InboundMessage.objects.select_for_update().get(pk=spool_id)
        spool.attempts += 1
        spool.last_error = error[:500]
        spool.save(update_fields=["attempts", "last_error"])
        return spool.attempts


def do_mark_failed(spool_id: uuid.UUID | str, error: str) -> None:
    """Give up on a spooled message: kept (blob and key) for an administrator, and journaled loudly."""
    with transaction.atomic():
        updated = InboundMessage.objects.filter(pk=spool_id, state=SpoolState.RECEIVED).update(
            state=SpoolState.FAILED, state_changed_at=timezone.now(), last_error=error[:500]
        )
        if updated:
            record_event(
                "gateway.ingest_failed",
                target_type="gateway.inboundmessage",
                target_id=str(spool_id),
                outcome=Outcome.FAILURE,
                details={"error": error[:500]},
            )
    logger.error("gateway: spooled message %s could not be ingested: %s", spool_id, error)


def do_requeue_failed(spool_id: uuid.UUID | str, *, operator: str) -> bool:
    """An administrator sends a `failed` row back to ingestion (after fixing the cause); audited."""
    with transaction.atomic():
        updated = InboundMessage.objects.filter(
            pk=spool_id, state=SpoolState.FAILED, key_wrap__isnull=False
        ).update(
            state=SpoolState.RECEIVED, state_changed_at=timezone.now(), enqueued_at=timezone.now(), attempts=0
        )
        if updated:
            record_event(
                "gateway.ingest_requeued",
                target_type="gateway.inboundmessage",
                target_id=str(spool_id),
                actor_label=operator[:254],
            )
            transaction.on_commit(functools.partial(enqueue_ingest, spool_id), robust=True)
    return bool(updated)


def do_sweep_spool(*, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Re-queue rows still `received` long after their last enqueue (lost task, broker outage)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.GATEWAY_SPOOL_STUCK_AFTER)
    with transaction.atomic():
        ids = list(
            InboundMessage.objects.select_for_update(skip_locked=True)
            .filter(state=SpoolState.RECEIVED, enqueued_at__lt=cutoff)
            .order_by("enqueued_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            InboundMessage.objects.filter(pk__in=ids).update(enqueued_at=now)
            for spool_id in ids:
                transaction.on_commit(functools.partial(enqueue_ingest, spool_id), robust=True)
    if ids:
        logger.warning("gateway: re-queued %d spooled message(s) left unprocessed", len(ids))
    return [str(pk) for pk in ids]
