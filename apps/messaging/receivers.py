"""messaging's answers to the signals of the apps below it (connected in `MessagingConfig.ready`)."""

from __future__ import annotations

from typing import Any

from apps.mailboxes.signals import MessageCounts, mailbox_deleting, message_counts_requested
from apps.messaging.indicators import count_messages_received, count_messages_sent
from apps.messaging.models import MessageCopy


def delete_copies_of_mailbox(sender: Any, *, mailbox_id: int, **_: Any) -> None:
    MessageCopy.objects.filter(mailbox_id=mailbox_id).delete()


def answer_message_counts(sender: Any, *, start: Any, end: Any, **_: Any) -> MessageCounts:
    return MessageCounts(sent=count_messages_sent(start, end), received=count_messages_received(start, end))


def connect() -> None:
    mailbox_deleting.connect(delete_copies_of_mailbox, dispatch_uid="messaging.delete_copies_of_mailbox")
    message_counts_requested.connect(answer_message_counts, dispatch_uid="messaging.answer_message_counts")
