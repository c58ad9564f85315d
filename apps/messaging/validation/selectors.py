"""Reading the validation queue of an applicative BAL and the status of what its software submitted.

The content of a held message is opened through the BAL's own copy in Envoyés (its wrap of the data key),
never through the transit key: reviewing uses exactly the rights of the BAL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.models import Mailbox
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from apps.messaging.store import content
from apps.messaging.webmail.message import AttachmentInfo, list_attachments
from apps.messaging.webmail.selectors import UNREADABLE

QUEUE_PAGE_SIZE = 50
REJECTED_CODE = "rejected"


def held_messages(mailbox: Mailbox) -> QuerySet[Message]:
    """The messages of `mailbox` that still wait for a decision, oldest first."""
    return (
        Message.objects.filter(from_mailbox=mailbox, deliveries__state=DeliveryState.HELD)
        .distinct()
        .order_by("created_at", "id")
    )


def count_held(mailbox: Mailbox) -> int:
    return held_messages(mailbox).count()


@dataclass
class HeldItem:
    message: Message
    copy: MessageCopy | None
    subject: str
    text: str
    attachments: list[AttachmentInfo] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    readable: bool = True


def _sent_copy(message: Message) -> MessageCopy | None:
    return (
        MessageCopy.objects.filter(message=message, mailbox=message.from_mailbox, is_outgoing=True)
        .select_related("message", "mailbox")
        .order_by("pk")
        .first()
    )


def _open(message: Message, recipients: list[str], *, full: bool) -> HeldItem:
    copy = _sent_copy(message)
    if copy is None:
        return HeldItem(message, None, UNREADABLE, "", recipients=recipients, readable=False)
    try:
        key = content.data_key_of_copy(copy)
    except DecryptionError:
        return HeldItem(message, copy, UNREADABLE, "", recipients=recipients, readable=False)
    field_name, blob = ("text", message.body_text_enc) if full else ("snippet", message.snippet_enc)
    return HeldItem(
        message=message,
        copy=copy,
        subject=content.open_text(key, message.pk, "subject", message.subject_enc),
        text=content.open_text(key, message.pk, field_name, blob),
        attachments=list_attachments(copy, key) if message.has_attachments else [],
        recipients=recipients,
    )


def _held_recipients(message_ids: list[Any]) -> dict[Any, list[str]]:
    found: dict[Any, list[str]] = {}
    rows = Delivery.objects.filter(message_id__in=message_ids, state=DeliveryState.HELD).order_by("pk")
    for message_id, recipient in rows.values_list("message_id", "recipient"):
        found.setdefault(message_id, []).append(recipient)
    return found


def list_held(mailbox: Mailbox, *, limit: int = QUEUE_PAGE_SIZE) -> list[HeldItem]:
    """The oldest held messages, decrypted for review (snippet, attachments, held recipients)."""
    messages = list(held_messages(mailbox)[:limit])
    recipients = _held_recipients([m.pk for m in messages])
    return [_open(m, recipients.get(m.pk, []), full=True) for m in messages]


def get_held(mailbox: Mailbox, message_id: Any) -> HeldItem | None:
    message = held_messages(mailbox).filter(pk=message_id).first()
    if message is None:
        return None
    return _open(message, _held_recipients([message.pk]).get(message.pk, []), full=True)


def get_submission(mailbox: Mailbox, message_id: Any) -> Message | None:
    """A message this BAL submitted (never another BAL's: the id alone does not open it)."""
    return Message.objects.filter(pk=message_id, from_mailbox=mailbox).first()


# --- Status of a submission (API) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    state: str  # held | validated | rejected | failed (every delivery failed before anyone decided)
    at: dt.datetime | None
    by: str
    reason: str


def decision_cache_key(message_id: Any) -> str:
    return f"validation:decision:{message_id}"


DECISION_CACHE_SECONDS = 30 * 24 * 3600


def _decided(message: Message) -> tuple[dt.datetime | None, str]:
    """When and by whom the submission was decided. A decision is final, so it is cached (the service sets
    it on commit); the journal, which has no index on the target, is read only when the cache lost it, and
    then only among this BAL's events after the submission."""
    key = decision_cache_key(message.pk)
    found = cache.get(key)
    if found is None:
        event = (
            AuditEvent.objects.filter(
                mailbox_id=message.from_mailbox_id,
                occurred_at__gte=message.created_at,
                target_type="messaging.message",
                target_id=str(message.pk),
                action__in=("message.validated", "message.rejected"),
            )
            .order_by("id")
            .first()
        )
        if event is None:
            return None, ""
        found = (event.occurred_at.isoformat(), event.actor_label)
        cache.set(key, found, timeout=DECISION_CACHE_SECONDS)
    at, by = found
    return dt.datetime.fromisoformat(at), by


def get_decision(message: Message, deliveries: list[Delivery]) -> Decision:
    """Where the submission stands in the validation queue, from its deliveries and the journal."""
    if any(d.state == DeliveryState.HELD for d in deliveries):
        return Decision("held", None, "", "")
    at, by = _decided(message)
    rejected = [d for d in deliveries if d.error_code == REJECTED_CODE]
    if rejected and len(rejected) == len(deliveries):
        return Decision("rejected", at, by, rejected[0].error_text)
    # Never validated, yet no longer held: its deliveries failed while waiting (e.g. the patient closed the
    # profile). Reporting "validated" with no decider and no date would tell the sender a story.
    if at is None and deliveries and all(d.state == DeliveryState.FAILED for d in deliveries):
        return Decision("failed", None, "", deliveries[0].error_text)
    return Decision("validated", at, by, "")
