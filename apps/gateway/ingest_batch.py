"""Ingesting the spool in batches (issue 17, docs/decisions/0022-inbound-batches.md).

One batch is one transaction: up to GATEWAY_INGEST_BATCH_SIZE `received` rows are claimed with `SELECT …
FOR UPDATE SKIP LOCKED` (two workers never take the same row, and a worker killed mid-batch releases its
locks with nothing committed: the rows are still `received`, another batch or the sweeper takes them), each
is decrypted, parsed and S/MIME-verified once, then messaging stores and deposits them all
(`do_receive_many`) and the rows are marked `ingested` in the same transaction. Hence a message is
deposited exactly once: its row leaves `received` in the transaction that stores it.

A row that cannot be read back as accepted (`SpoolCorrupt`) is marked failed; one whose preparation fails
otherwise, and a report (DSN/MDN, which messaging's report handler may consume), is set aside: the caller
runs it alone through the per-message path (`services.do_ingest`, with its attempts and back-off). If the
batch's writes fail, its savepoint is rolled back and every message of it is set aside: a batch is an
optimisation, never a new way to lose or duplicate a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.gateway.dedup import claim_many, resend_key
from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.services import SpoolCorrupt, open_plaintext
from apps.mailboxes.models import Mailbox
from apps.messaging.delivery.batch import prepare_mailboxes
from apps.messaging.delivery.inbound_batch import (
    Parsed,
    Received,
    do_receive_many,
    parse_received,
)
from apps.messaging.models import Message
from apps.messaging.store import blobs, storage

logger = logging.getLogger(__name__)


def batch_size() -> int:
    return int(getattr(settings, "GATEWAY_INGEST_BATCH_SIZE", 64))


@dataclass
class BatchOutcome:
    claimed: int = 0
    stored: int = 0
    set_aside: list[str] = field(default_factory=list)  # for the per-message path
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (spool id, why): to mark failed


def _candidates(ids: list[str] | None) -> object:
    rows = InboundMessage.objects.filter(state=SpoolState.RECEIVED)
    # Without ids: the rows no attempt has failed yet (a failed one waits for its back-off, in its own task).
    return rows.filter(pk__in=ids) if ids is not None else rows.filter(attempts=0)


def _prepare_bals(ids: list[str] | None, limit: int) -> None:
    """The BALs of the rows about to be claimed get their key and folders first, each committed on its own
    (made inside the batch's transaction, two batches could deadlock: ADR 0014). Cached per process."""
    lists = _candidates(ids).order_by("enqueued_at").values_list("recipients", flat=True)[:limit]  # type: ignore[attr-defined]
    addresses = {str(a).lower() for recipients in lists for a in recipients}
    prepare_mailboxes(set(Mailbox.objects.filter(address__in=addresses).values_list("pk", flat=True)))


def do_ingest_batch(ids: list[str] | None = None, *, limit: int | None = None) -> BatchOutcome:
    """Claim and ingest one batch: the rows `ids` still `received`, or (None) any not yet attempted."""
    limit = limit or batch_size()
    _prepare_bals(ids, limit)
    outcome = BatchOutcome()
    written: list[storage.StoredStream] = []
    try:
        with transaction.atomic():
            rows = list(
                _candidates(ids)  # type: ignore[attr-defined]
                .select_for_update(skip_locked=True)
                .order_by("enqueued_at")[:limit]
            )
            outcome.claimed = len(rows)
            ready = _parse_all(rows, outcome)
            if ready:
                _store(ready, written, outcome)
    except BaseException:
        storage.discard(written)
        raise
    return outcome


def _parse_all(rows: list[InboundMessage], outcome: BatchOutcome) -> list[tuple[InboundMessage, Parsed]]:
    ready = []
    for spool in rows:
        try:
            with open_plaintext(spool) as plaintext:
                raw = plaintext.read()
            parsed = parse_received(
                Received(
                    raw=raw,
                    envelope_sender=spool.envelope_sender,
                    recipients=list(spool.recipients),
                    peer=spool.peer_dn,
                    idempotency_key=f"smtp:{spool.pk}",
                )
            )
        except SpoolCorrupt as exc:
            outcome.corrupt.append((str(spool.pk), str(exc)))
            continue
        except Exception:
            logger.exception("gateway: spooled message %s set aside from its batch", spool.pk)
            outcome.set_aside.append(str(spool.pk))
            continue
        if parsed is None:  # a report: the per-message path hands it to messaging's report handler
            outcome.set_aside.append(str(spool.pk))
        else:
            ready.append((spool, parsed))
    return ready


def _store(
    ready: list[tuple[InboundMessage, Parsed]], written: list[storage.StoredStream], outcome: BatchOutcome
) -> None:
    """Messages, deliveries, copies, journal, quota and the spool rows' new state, under a savepoint: a
    failure sets the whole batch aside without giving up the claim of the rows already handled."""
    mine: list[storage.StoredStream] = []
    try:
        with transaction.atomic():
            # A resend is deposited only for the recipients who lack it (apps.gateway.dedup).
            keys = [(resend_key(p.received.raw, s.envelope_sender), p.received.recipients) for s, p in ready]
            for (_spool, parsed), recipients in zip(ready, claim_many(keys), strict=True):
                parsed.received.recipients = recipients
            stored = _already_stored([p for _, p in ready if not p.received.recipients])
            stored.update(do_receive_many([p for _, p in ready if p.received.recipients], mine))
            _mark_ingested([(spool, stored.get(f"smtp:{spool.pk}")) for spool, _ in ready])
    except Exception:
        logger.exception("gateway: a batch of %d message(s) failed; each goes on alone", len(ready))
        storage.discard(mine)
        outcome.set_aside.extend(str(spool.pk) for spool, _ in ready)
        return
    written.extend(mine)
    outcome.stored += len(ready)


def _already_stored(items: list[Parsed]) -> dict[str, object]:
    """Messages nobody needs again: the one an earlier run stored under the same idempotency key, if any
    (else the spool row records no message, as for a report)."""
    if not items:
        return {}
    keys = [item.received.idempotency_key for item in items]
    return {
        str(k): pk
        for k, pk in Message.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "pk")
    }


def _mark_ingested(done: list[tuple[InboundMessage, object]]) -> None:
    """The rows leave `received` in the transaction that stored their messages; transit keys and
    ciphertext go with them, blob files after commit."""
    now = timezone.now()
    table = InboundMessage._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET state = %s, state_changed_at = %s, ingested_at = %s, "  # noqa: S608
                "message_id = v.message_id, key_wrap = NULL, ciphertext = NULL, last_error = '' "
                "FROM unnest(%s::uuid[], %s::uuid[]) AS v(id, message_id) WHERE s.id = v.id AND s.state = %s",
                [
                    SpoolState.INGESTED,
                    now,
                    now,
                    [spool.pk for spool, _ in done],
                    [message_id for _, message_id in done],
                    SpoolState.RECEIVED,
                ],
            )
    else:  # SQLite (`make run`): one writer at a time anyway
        for spool, message_id in done:
            InboundMessage.objects.filter(pk=spool.pk, state=SpoolState.RECEIVED).update(
                state=SpoolState.INGESTED, state_changed_at=now, ingested_at=now, message_id=message_id,
                key_wrap=None, ciphertext=None, last_error="",
            )  # fmt: skip
    names = [spool.blob for spool, _ in done if spool.blob]
    if names:
        transaction.on_commit(lambda: _delete_blobs(names))


def _delete_blobs(names: list[str]) -> None:
    for name in names:
        blobs.delete_blob(name)
