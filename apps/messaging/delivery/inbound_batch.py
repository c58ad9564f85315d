"""Received messages stored and deposited in batches: the inbound side of the batch depositor.

Until issue 17 each message received over SMTP was its own task through `do_receive_message` (its blobs
committed apart, its deliveries queued), then deposited by a second stage (`deposit_queued`): about 16
queries and 3 commits per message before the deposit even started (docs/benchmarks.md, "Inbound in
batches"). Here the caller (the gateway's ingest, inside its own transaction, holding the spool rows) hands
over messages already decrypted, parsed and S/MIME-verified once (`parse_received`), and
`do_receive_many` writes, in that one transaction, for the whole batch: the blobs (rows up to
MESSAGE_INLINE_MAX_BYTES), the messages and attachments, the deliveries, the copies of the local recipients
the recipient rules accept (through the shared copy builder `new_copy`), the journal events and the usage of
each BAL (in BAL id order, as `do_deposit_many`: two batches never deadlock). The other deliveries (another
operator, a recipient the rules refuse, a BAL gone) are left `queued` to the usual pipeline, which retries,
refuses and bounces them exactly as before; one wake (`enqueue_deliveries`) per batch after commit.
docs/decisions/0022-inbound-batches.md.
"""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import build_event, record_events
from apps.crypto.keys import new_data_key
from apps.mailboxes.quotas import do_add_usage_many
from apps.messaging.delivery.batch import screen
from apps.messaging.delivery.deliver import delivered_event, index_texts, new_copy
from apps.messaging.delivery.inbound import attachments_of, new_attachments, new_message, open_received
from apps.messaging.models import Delivery, DeliveryState, Message, MessageKind, Origin
from apps.messaging.policies import resolve_recipients
from apps.messaging.store import blobs, search_index, storage, uids
from mssante_lib import fastsql


@dataclass
class Received:
    """One spooled message, decrypted: what the SMTP transaction established and the raw bytes."""

    raw: bytes
    envelope_sender: str
    recipients: list[str]
    peer: str
    idempotency_key: str
    origin: str = Origin.SMTP


@dataclass
class Parsed:
    """A received message parsed and S/MIME-verified once (outside any transaction: CPU only)."""

    received: Received
    parsed: EmailMessage
    signature_state: str
    signature_label: str


@dataclass
class _Built:
    message: Message
    data_key: bytes
    attachments: list[Any]
    recipients: list[str]
    deliveries: list[Delivery] = field(default_factory=list)


def parse_received(received: Received) -> Parsed | None:
    """Parse and verify; None for a report (DSN/MDN): those go through `do_receive_message`, where the
    transport may consume them instead of storing a message."""
    parsed, state, label = open_received(io.BytesIO(received.raw))
    if parsed.get_content_type() == "multipart/report":
        return None
    return Parsed(received, parsed, state, label)


def recipients_of(items: list[Received]) -> set[str]:
    return {address.lower() for item in items for address in item.recipients}


def do_receive_many(items: list[Parsed], written: list[storage.StoredStream]) -> dict[str, Any]:
    """Store and deposit `items` in the caller's transaction; returns {idempotency key: message id}.

    A message already stored under its idempotency key (a crash between this commit and the caller's
    bookkeeping cannot happen inside one transaction, but the per-message path may have stored it) is not
    stored again. Every blob written is appended to `written`: files outlive a rollback, so the caller
    discards them if its transaction fails.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("do_receive_many must run inside the caller's transaction")
    keys = [item.received.idempotency_key for item in items]
    done: dict[str, Any] = {
        str(key): pk
        for key, pk in Message.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "pk")
    }
    todo = [item for item in items if item.received.idempotency_key not in done]
    if not todo:
        return done
    with blobs.rows_together():
        built = [_build(item, written) for item in todo]
    deposited = _deliveries(built)
    fastsql.insert([b.message for b in built])
    fastsql.insert([a for b in built for a in b.attachments])
    fastsql.insert([d for b in built for d in b.deliveries])
    _deposit(built, deposited)
    record_events([*(_received_event(b, item) for b, item in zip(built, todo, strict=True))]
                  + [delivered_event(d) for d in deposited])  # fmt: skip
    queued = [d.pk for b in built for d in b.deliveries if d.state == DeliveryState.QUEUED]
    if queued:
        transaction.on_commit(lambda: _enqueue(queued))
    done.update({str(b.message.idempotency_key): b.message.pk for b in built})
    return done


def _build(item: Parsed, written: list[storage.StoredStream]) -> _Built:
    """Blobs written (rows in the transaction, or durable files), Message and Attachments unsaved."""
    pk, data_key = uuid.uuid4(), new_data_key()
    received = item.received
    raw = storage.write_stream(pk, "raw", [received.raw], data_key)
    written.append(raw)
    stored = []
    for index, (name, ctype, payload) in enumerate(attachments_of(item.parsed)):
        stream = storage.write_stream(pk, f"attachment-{index}", [payload], data_key)
        written.append(stream)
        stored.append((name, ctype, stream))
    message = new_message(
        item.parsed,
        pk,
        data_key,
        raw,
        stored,
        received.origin,
        received.idempotency_key,
        kind=MessageKind.NORMAL,
        return_path=received.envelope_sender[:254],
        signature_state=item.signature_state[:20],
        signature_signer=item.signature_label[:300],
    )
    return _Built(message, data_key, new_attachments(message, data_key, stored), received.recipients)


def _deliveries(built: list[_Built]) -> list[Delivery]:
    """One Delivery per distinct recipient; those the recipient rules accept for a local BAL are deposited
    here (returned), the others stay queued for the usual pipeline. A message none of whose deliveries is
    left in transit needs no transit key."""
    now = timezone.now()
    local: list[Delivery] = []
    resolved = resolve_recipients(list({r.lower() for b in built for r in b.recipients}))
    for b in built:
        for address in dict.fromkeys(r.lower() for r in b.recipients):
            recipient = resolved[address]
            delivery = Delivery(
                message=b.message,
                recipient=recipient.address,
                recipient_mailbox=recipient.mailbox,
                is_local=recipient.is_local,
                state=DeliveryState.QUEUED,
                created_at=now,
                state_changed_at=now,
                next_attempt_at=now,
            )
            b.deliveries.append(delivery)
            if recipient.is_local and recipient.mailbox is not None:
                local.append(delivery)
    deposited = [d for d, refusal in screen(local) if refusal is None]
    for delivery in deposited:
        delivery.state, delivery.delivered_at, delivery.attempts = DeliveryState.DELIVERED, now, 1
    for b in built:
        if all(d.state == DeliveryState.DELIVERED for d in b.deliveries):
            b.message.transit_key_wrap = None
    return deposited


def _deposit(built: list[_Built], deposited: list[Delivery]) -> None:
    """The copies (one stemming round trip for the batch), then each BAL's usage in a fixed order."""
    if not deposited:
        return
    by_message = {b.message.pk: b for b in built}
    wanted = list({d.message_id: by_message[d.message_id] for d in deposited}.values())
    terms = search_index.terms_many([index_texts(b.message, b.data_key) for b in wanted])
    index = {b.message.pk: (b.data_key, found) for b, found in zip(wanted, terms, strict=True)}
    copies = [new_copy(d.message, _mailbox(d), *index[d.message_id], delivery=d) for d in deposited]
    # IMAP UIDs in one UPDATE per batch (else the table's trigger takes them one row at a time); folders,
    # then BALs, each in id order: the lock order of do_deposit_many, so batches never deadlock.
    uids.allocate(copies)
    fastsql.insert(copies)
    usage: dict[int, int] = defaultdict(int)
    for delivery in deposited:
        usage[_mailbox(delivery)] += delivery.message.size
    do_add_usage_many(usage)


def _mailbox(delivery: Delivery) -> int:
    if delivery.recipient_mailbox_id is None:
        raise ValueError(f"delivery {delivery.pk} has no BAL")
    return delivery.recipient_mailbox_id


def _received_event(b: _Built, item: Parsed) -> AuditEvent:
    received = item.received
    peer = received.peer
    return build_event(
        "message.received",
        target=b.message,
        actor_label=f"smtp:{peer}"[:200] if peer else "smtp",
        details={
            "envelope_sender": received.envelope_sender,
            "recipients": received.recipients,
            "size": b.message.size,
            "sha256": b.message.sha256,
            "peer": peer,
        },
    )


def _enqueue(ids: list[int]) -> None:
    from apps.messaging.delivery.submit import enqueue_deliveries

    enqueue_deliveries(ids)
