"""Threads in a BAL: which copy a new message answers, and the answered mark. Used by submission and
deposit (delivery) and by the webmail alike, so it lives with the stored copies."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.messaging.models import Message, MessageCopy
from apps.messaging.store.text import message_ids


def thread_root_for(mailbox_id: int, message: Message) -> int | None:
    """The thread of `message` in this BAL: the root of the copy it answers, or None (it starts one)."""
    parents = [*message_ids(message.in_reply_to), *reversed(message_ids(message.references))]
    if not parents:
        return None
    found = (
        MessageCopy.objects.filter(mailbox_id=mailbox_id, message__message_id__in=parents)
        .order_by("received_at")
        .values_list("id", "thread_root")
        .first()
    )
    if found is None:
        return None
    copy_id, root = found
    return root or copy_id


def mark_replied(copy: MessageCopy, user: Any) -> None:
    """Called inside the submitting transaction: the answered flag and, for shared BALs, who answered."""
    MessageCopy.objects.filter(pk=copy.pk).update(
        is_answered=True, answered_by=user, answered_at=timezone.now()
    )
