"""Recognising a resend (issue 17 point 3): the same message received again after the peer lost our 250.

RFC 5321 §4.1.1.4's duplicate window: if the connection breaks after our commit but before the peer reads
our 250 (or during the COMMIT itself, ADR 0009), the peer keeps the message and sends it again. A resend is
the same Message-ID, the same envelope sender and the same DATA as received (its SHA-256, our own
`Received:` line left out: it names the spool id, new at each reception). It is recognised per recipient, at
ingest, in the transaction that deposits: the key is inserted for each recipient with `ON CONFLICT DO
NOTHING`, and only the recipients whose insert went through are deposited. Two batches holding a message and
its resend at once serialise on the unique index, so the second waits and then sees the first's keys; a
resend whose first copy is still spooled is caught the same way when its turn comes. The keys live in their
own table for GATEWAY_DEDUP_DAYS (7) whatever the spool retention. A message without Message-ID is never
taken for a resend.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.gateway.models import InboundDedupKey

logger = logging.getLogger(__name__)
# Our trace line: "Received: …" and its folded continuation lines, prepended by the gateway.
_OUR_TRACE = re.compile(rb"\AReceived: [^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*")


def data_sha256(raw: bytes) -> str:
    """SHA-256 of the DATA as the peer sent it: the spooled bytes without the trace line we prepended."""
    found = _OUR_TRACE.match(raw)
    return hashlib.sha256(raw[found.end() :] if found else raw).hexdigest()


def resend_key(raw: bytes, envelope_sender: str) -> str | None:
    """The key of a received message; None without a Message-ID (nothing reliable to compare)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    message_id = " ".join(str(headers.get("Message-ID", "")).split())
    if not message_id:
        return None
    material = "\n".join([message_id, envelope_sender.lower(), data_sha256(raw)])
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()


def claim_recipients(key: str | None, recipients: list[str]) -> list[str]:
    """Inside the depositing transaction: the recipients who do not have this message yet (their key is
    recorded now); the others are dropped, with a log line."""
    return claim_many([(key, recipients)])[0]


def claim_many(messages: list[tuple[str | None, list[str]]]) -> list[list[str]]:
    """`claim_recipients` for the messages of a batch, with one statement; a key repeated within the batch
    (a resend ingested with its first copy) goes to its first message only."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim_many must run inside the depositing transaction")
    wanted = [list(dict.fromkeys(r.lower() for r in recipients)) for _key, recipients in messages]
    pairs = list(
        dict.fromkeys((key, r) for (key, _), rs in zip(messages, wanted, strict=True) if key for r in rs)
    )
    fresh = _insert(pairs)
    out: list[list[str]] = []
    for (key, _), recipients in zip(messages, wanted, strict=True):
        if key is None:
            out.append(recipients)
            continue
        mine = [r for r in recipients if (key, r) in fresh]
        fresh.difference_update((key, r) for r in mine)  # a second message with the same key gets none
        if len(mine) < len(recipients):
            dropped = [r for r in recipients if r not in mine]
            logger.info("gateway: resend recognised (key %s…), not deposited again for %s", key[:12], dropped)
        out.append(mine)
    return out


def _insert(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Record the (key, recipient) pairs; returns those that were not recorded yet."""
    if not pairs:
        return set()
    now = timezone.now()
    if connection.vendor != "postgresql":  # SQLite (`make run`): one writer at a time
        known = {(k.key, k.recipient) for k in InboundDedupKey.objects.filter(key__in={k for k, _ in pairs})}
        fresh = [pair for pair in pairs if pair not in known]
        InboundDedupKey.objects.bulk_create(
            InboundDedupKey(key=k, recipient=r, created_at=now) for k, r in fresh
        )
        return set(fresh)
    table = InboundDedupKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, recipient, created_at) "  # noqa: S608
            "SELECT k, r, %s FROM unnest(%s::text[], %s::text[]) AS p(k, r) "
            "ON CONFLICT DO NOTHING RETURNING key, recipient",
            [now, [k for k, _ in pairs], [r for _, r in pairs]],
        )
        return {(row[0], row[1]) for row in cursor.fetchall()}


def do_purge_dedup_keys(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.GATEWAY_DEDUP_DAYS)
    deleted, _ = InboundDedupKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
