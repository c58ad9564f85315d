"""Writes of the inbound gateway: spooling an accepted message durably, ingesting it, sweeping the spool.

Durability order (the 250 depends on it): the raw message is encrypted under a fresh data key — kept in the
spool row itself when small, else written to a blob (temporary file, fsync, rename, fsync of the
directory) — then the spool row, carrying the data key wrapped under the master key for transit, is
committed with synchronous commit, and only then does the server say 250. The gateway commits the rows of
the sessions finishing together in one statement (`do_spool_batch`, group commit); `do_spool_message` is
the one-message form (tests, SQLite in development). The ingest task is enqueued after the commit; if the
broker is down the row stays `received` and the sweeper re-queues it, so an accepted message is never lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent, Outcome
from apps.audit.services import record_event
from apps.crypto import keys
from apps.crypto.envelope import DecryptionError, aad_for
from apps.crypto.stream import StreamEncryptor, decrypt_stream
from apps.gateway.models import InboundMessage, SpoolState
from apps.messaging.store import blobs
from mssante_lib.jobs import enqueue, task_named

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

SPOOL_PURPOSE = "spool"
RECEIVED_EVENT = "gateway.message_received"
# Plaintext over this size goes to disk while ingesting: never more than a segment or two in memory.
_INGEST_MEMORY_BYTES = 1024 * 1024


def inline_max_bytes() -> int:
    """Messages up to this size keep their ciphertext in the spool row (no file, no extra fsyncs)."""
    return int(getattr(settings, "GATEWAY_SPOOL_INLINE_BYTES", 512 * 1024))


@dataclass
class SpoolEnvelope:
    """What the SMTP transaction established: who sent, to whom, over which authenticated connection."""

    sender: str
    recipients: list[str]
    peer_dn: str
    peer_ip: str | None = None
    helo: str = ""
    tls_version: str = ""


@dataclass
class SpoolEntry:
    """A message ready to be committed: encrypted (in `ciphertext`, or in the durable blob `blob`)."""

    spool_id: uuid.UUID
    envelope: SpoolEnvelope
    size: int
    sha256: str
    key_wrap: bytes
    ciphertext: bytes | None
    blob: str
    received_at: dt.datetime

    def discard(self) -> None:
        """The row will not be committed: its blob (if any) goes, the key was only ever in memory."""
        blobs.delete_blob(self.blob)


def spool_aad(spool_id: uuid.UUID | str) -> bytes:
    return aad_for("inbound-spool", spool=spool_id)


def _encrypt(spool_id: uuid.UUID, raw: bytes, data_key: bytes, handle: Any) -> str:
    encryptor = StreamEncryptor(handle, data_key, aad=spool_aad(spool_id))
    encryptor.write(raw)
    return encryptor.close().sha256


def prepare_spool_entry(raw: bytes, envelope: SpoolEnvelope, spool_id: uuid.UUID) -> SpoolEntry:
    """Encrypt `raw` under a fresh data key: in memory when small, else into a durable blob (file I/O and
    fsyncs: call it from a thread then). Nothing is committed yet; `discard()` undoes it."""
    data_key = keys.new_data_key()
    ciphertext: bytes | None = None
    name = ""
    if len(raw) <= inline_max_bytes():
        buffer = io.BytesIO()
        sha256 = _encrypt(spool_id, raw, data_key, buffer)
        ciphertext = buffer.getvalue()
    else:
        name = blobs.new_name()
        with blobs.writer(name) as handle:
            sha256 = _encrypt(spool_id, raw, data_key, handle)
    return SpoolEntry(
        spool_id=spool_id,
        envelope=envelope,
        size=len(raw),
        sha256=sha256,
        key_wrap=keys.wrap_transit_key(data_key, purpose=SPOOL_PURPOSE, object_id=spool_id),
        ciphertext=ciphertext,
        blob=name,
        received_at=timezone.now(),
    )


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


def _received_details(envelope: SpoolEnvelope, size: int) -> dict[str, Any]:
    return {
        "sender": envelope.sender,
        "recipients": envelope.recipients,
        "size": size,
        "peer_ip": envelope.peer_ip,
    }


def do_spool_message(
    raw: bytes, envelope: SpoolEnvelope, *, spool_id: uuid.UUID | None = None
) -> InboundMessage:
    """Store `raw` durably and commit its spool row; raises (and leaves nothing behind) on any failure."""
    entry = prepare_spool_entry(raw, envelope, spool_id or uuid.uuid4())
    try:
        _synchronous_commit()  # outside the transaction: a rolled-back SET would be undone
        with transaction.atomic():
            spool = InboundMessage.objects.create(
                id=entry.spool_id,
                envelope_sender=envelope.sender,
                recipients=envelope.recipients,
                peer_dn=envelope.peer_dn[:1000],
                peer_ip=envelope.peer_ip,
                helo=envelope.helo[:255],
                tls_version=envelope.tls_version,
                size=entry.size,
                sha256=entry.sha256,
                blob=entry.blob,
                ciphertext=entry.ciphertext,
                key_wrap=entry.key_wrap,
                received_at=entry.received_at,
            )
            record_event(
                RECEIVED_EVENT,
                target=spool,
                actor_label=envelope.peer_dn[:254],
                details=_received_details(envelope, entry.size),
            )
            spool_id = entry.spool_id
            transaction.on_commit(lambda: enqueue_ingest(spool_id), robust=True)
    except BaseException:
        entry.discard()
        raise
    return spool


# The rows of a group commit and their journal events in ONE statement: a single statement is a single
# (implicit) transaction, so the batch is committed whole or not at all, in one round trip. The journal
# rows are what `record_event` writes for `gateway.message_received` (no request context in the gateway).
# Server-side placeholders ($n, a raw cursor): psycopg would otherwise parse the whole statement in Python
# at every batch (it caches only statements of up to 50 parameters), a fifth of the event loop's time.
_SPOOL_COLUMNS = (
    "id", "envelope_sender", "recipients", "peer_dn", "peer_ip", "helo", "tls_version", "size", "sha256",
    "blob", "ciphertext", "key_wrap", "state", "attempts", "received_at", "state_changed_at", "enqueued_at",
    "last_error",
)  # fmt: skip
_ROW_PARAMS = 13  # per row, in _batch_row's order: the 12 first columns, then the time of reception
_BATCH_SQL = """
WITH spooled AS (
    INSERT INTO {spool} ({columns}) VALUES {values}
    RETURNING id, envelope_sender, recipients, peer_dn, peer_ip, size, received_at
)
INSERT INTO {audit} (occurred_at, actor_label, mailbox_label, action, outcome, target_type, target_id,
                     user_agent, details)
SELECT received_at, left(peer_dn, 254), '', {action}, {outcome}, {target_type}, id::text, '',
       jsonb_build_object('sender', envelope_sender, 'recipients', recipients, 'size', size,
                          'peer_ip', host(peer_ip))
FROM spooled
"""


@functools.lru_cache(maxsize=256)
def _batch_sql(count: int) -> str:
    def row(first: int) -> str:
        given = [f"${first + i}" for i in range(_ROW_PARAMS - 1)]
        now = f"${first + _ROW_PARAMS - 1}"
        return "(" + ", ".join([*given, f"'{SpoolState.RECEIVED.value}'", "0", now, now, now, "''"]) + ")"

    after = count * _ROW_PARAMS
    return _BATCH_SQL.format(
        spool=InboundMessage._meta.db_table,
        audit=AuditEvent._meta.db_table,
        columns=", ".join(_SPOOL_COLUMNS),
        values=", ".join(row(1 + i * _ROW_PARAMS) for i in range(count)),
        action=f"${after + 1}",
        outcome=f"${after + 2}",
        target_type=f"${after + 3}",
    )


def _batch_row(entry: SpoolEntry) -> tuple[Any, ...]:
    from psycopg.types.json import Jsonb

    envelope = entry.envelope
    return (
        entry.spool_id, envelope.sender, Jsonb(envelope.recipients), envelope.peer_dn[:1000],
        envelope.peer_ip, envelope.helo[:255], envelope.tls_version, entry.size, entry.sha256, entry.blob,
        entry.ciphertext, entry.key_wrap, entry.received_at,
    )  # fmt: skip


async def do_spool_batch(conn: psycopg.AsyncConnection[Any], entries: list[SpoolEntry]) -> None:
    """Commit the spool rows of `entries` and their journal events, all or none (PostgreSQL, autocommit
    connection with synchronous commit on). Raises on failure; the caller then discards the entries."""
    import psycopg

    params: list[Any] = [value for entry in entries for value in _batch_row(entry)]
    params += [RECEIVED_EVENT, Outcome.SUCCESS.value, InboundMessage._meta.label_lower]
    async with psycopg.AsyncRawCursor(conn) as cursor:
        await cursor.execute(_batch_sql(len(entries)), params)


def enqueue_ingest(spool_id: uuid.UUID | str) -> None:
    """Publish the ingest task; a broker failure is only logged: the row is safe and the sweeper retries."""
    try:
        enqueue("apps.gateway.tasks.ingest_inbound", str(spool_id), retry=False)
    except Exception:
        logger.warning("gateway: could not enqueue ingest of %s (broker down?); the sweeper will", spool_id)


def prepare_ingest_publish() -> None:
    """Look the ingest task up once (Celery's registry is filled by importing every app's tasks)."""
    task_named("apps.gateway.tasks.ingest_inbound_batch")


def enqueue_ingest_batch(spool_ids: list[str]) -> None:
    """One publish for the messages of a group commit (a publish costs ~0.8 ms of CPU); same failure rule."""
    try:
        enqueue("apps.gateway.tasks.ingest_inbound_batch", spool_ids, retry=False)
    except Exception:
        logger.warning(
            "gateway: could not enqueue ingest of %d message(s) (broker down?); the sweeper will",
            len(spool_ids),
        )


class SpoolCorrupt(Exception):
    """The spooled blob cannot be read back as it was accepted: retrying will not help."""


def _open_ciphertext(spool: InboundMessage) -> BinaryIO:
    if spool.ciphertext is not None:
        return io.BytesIO(bytes(spool.ciphertext))
    return blobs.open_blob(spool.blob)


def open_plaintext(spool: InboundMessage) -> BinaryIO:
    """The raw message decrypted into a temporary file (memory up to 1 MiB), checked against its SHA-256."""
    if spool.key_wrap is None or (spool.ciphertext is None and not spool.blob):
        raise SpoolCorrupt(f"spool {spool.pk}: no ciphertext or key left to read")
    plaintext: Any = tempfile.SpooledTemporaryFile(max_size=_INGEST_MEMORY_BYTES)  # noqa: SIM115 (returned)
    try:
        data_key = keys.unwrap_transit_key(bytes(spool.key_wrap), purpose=SPOOL_PURPOSE, object_id=spool.pk)
        with _open_ciphertext(spool) as src:
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
    from apps.messaging.delivery.inbound import do_receive_message

    spool = InboundMessage.objects.filter(pk=spool_id, state=SpoolState.RECEIVED).first()
    if spool is None:
        return None
    with open_plaintext(spool) as raw, transaction.atomic():
        locked = InboundMessage.objects.select_for_update().filter(pk=spool.pk, state=SpoolState.RECEIVED)
        if not locked.exists():
            return None
        recipients = _not_yet_received(spool, raw)
        if not recipients:  # a resend every recipient already has
            do_mark_ingested(spool, None)
            return None
        message = do_receive_message(
            raw=raw,
            envelope_sender=spool.envelope_sender,
            recipients=recipients,
            origin="smtp",
            peer=spool.peer_dn,
            idempotency_key=f"smtp:{spool.pk}",
        )
        # None: a DSN/MDN about one of our messages, consumed by messaging's report handler.
        message_id = message.pk if message is not None else None
        do_mark_ingested(spool, message_id)
        return message_id


def _not_yet_received(spool: InboundMessage, raw: BinaryIO) -> list[str]:
    """The recipients a resend has not reached yet (apps.gateway.dedup), in the ingest's transaction."""
    from apps.gateway.dedup import claim_recipients, resend_key

    raw.seek(0)
    key = resend_key(raw.read(), spool.envelope_sender)
    raw.seek(0)
    return claim_recipients(key, list(spool.recipients))


def do_mark_ingested(spool: InboundMessage, message_id: object) -> None:
    """Inside the ingest transaction: the row is done, its transit key and ciphertext go, its blob after
    commit."""
    now = timezone.now()
    updated = InboundMessage.objects.filter(pk=spool.pk, state=SpoolState.RECEIVED).update(
        state=SpoolState.INGESTED,
        state_changed_at=now,
        ingested_at=now,
        message_id=message_id,
        key_wrap=None,
        ciphertext=None,
        last_error="",
        blob="",  # the row no longer names it: backups and the orphan collector see it as released
    )
    if updated and spool.blob:
        name = spool.blob
        transaction.on_commit(lambda: blobs.release_blob(name))


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
            # One publish for them all: after a long broker outage a sweep may find hundreds.
            batch = [str(pk) for pk in ids]
            transaction.on_commit(functools.partial(enqueue_ingest_batch, batch), robust=True)
    if ids:
        logger.warning("gateway: re-queued %d spooled message(s) left unprocessed", len(ids))
    return [str(pk) for pk in ids]


def do_purge_ingested_spool(*, now: dt.datetime | None = None, chunk: int = 1000) -> int:
    """Delete `ingested` spool rows older than GATEWAY_SPOOL_RETENTION_HOURS; returns how many went.

    An ingested row holds no content any more (ciphertext, key and blob went at ingest), only the envelope
    the journal already has. Rows `received` or `failed` are never deleted here. Chunks of `chunk` rows,
    each its own short transaction, skipping rows another transaction holds.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.GATEWAY_SPOOL_RETENTION_HOURS)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                InboundMessage.objects.select_for_update(skip_locked=True)
                .filter(state=SpoolState.INGESTED, ingested_at__lt=cutoff)
                .values_list("pk", flat=True)[:chunk]
            )
            if ids:
                InboundMessage.objects.filter(pk__in=ids, state=SpoolState.INGESTED).delete()
        total += len(ids)
        if len(ids) < chunk:
            return total
