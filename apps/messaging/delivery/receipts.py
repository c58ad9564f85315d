"""Read receipts (MDN, RFC 8098) to senders at other operators: asked for, sent once, journaled.

A message from a sender of this platform has a sender timeline here: its first read only sets `read_at`
on the delivery (services_delivery.do_record_read). A message received from another operator has none: the
sender is told by an MDN, which the gateway builds and sends (the transport's `send_read_receipt`, see
transports.py; messaging never imports the gateway). The reader's preference has already been applied by
do_record_read; the sender decides, following RFC 8098 §2.1, whether the request may be honoured without
asking the reader (not when Disposition-Notification-To differs from the Return-Path) and returns a
`ReceiptOutcome`, which this module journals.

The MDN is built after the read is committed, in a task (`tasks.send_read_receipt`): a broker or worker
outage delays it, a redelivered task finds the report already stored under `receipt_key(copy)` and does
nothing (one MDN per received copy, whatever the number of reads).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.audit.models import Outcome
from apps.audit.services import record_event
from apps.messaging.constants import READ_RECEIPT_TASK
from apps.messaging.delivery.transports import ReceiptOutcome, get_transport
from apps.messaging.models import Message, MessageCopy, MessageKind
from mssante_lib.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)


def is_from_remote_sender(message: Message) -> bool:
    """A message that came from another operator: no sender mailbox here and a real Return-Path (reports,
    sent with a null Return-Path, never get a receipt)."""
    return (
        message.from_mailbox_id is None and bool(message.return_path) and message.kind == MessageKind.NORMAL
    )


def receipt_key(copy: MessageCopy) -> str:
    """Idempotency key of the MDN about one received copy (the report Message is stored under it)."""
    return f"mdn:{copy.pk}"


def schedule_remote_read_receipt(copy: MessageCopy, user: Any) -> None:
    """Called inside the read's transaction: the MDN is built once the read is committed."""
    enqueue_on_commit(READ_RECEIPT_TASK, copy.pk, getattr(user, "pk", None))


def do_send_remote_read_receipt(copy_id: int, user_id: int | None) -> ReceiptOutcome | None:
    """Ask the gateway for the MDN of one read copy and journal what it did; None when there was nothing
    to do (already sent, copy gone, no sender registered)."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    with transaction.atomic():
        copy = (
            MessageCopy.objects.select_for_update(of=("self",))
            .select_related("message", "mailbox")
            .filter(pk=copy_id)
            .first()
        )
        if copy is None or Message.objects.filter(idempotency_key=receipt_key(copy)).exists():
            return None
        outcome = get_transport().send_read_receipt(copy, user)
        if not isinstance(outcome, ReceiptOutcome):
            return None
        _journal(copy, user, outcome)
    return outcome


def _journal(copy: MessageCopy, user: Any, outcome: ReceiptOutcome) -> None:
    record_event(
        "message.read_receipt_sent" if outcome.sent else "message.read_receipt_withheld",
        actor=user,
        mailbox=copy.mailbox,
        target=copy,
        outcome=Outcome.SUCCESS if outcome.sent else Outcome.DENIED,
        details={"to": outcome.to, "reason": outcome.reason, "message_id": copy.message.message_id},
    )
    logger.info(
        "read receipt for copy %s: %s %s",
        copy.pk,
        "sent to" if outcome.sent else "withheld:",
        outcome.to if outcome.sent else outcome.reason,
    )
