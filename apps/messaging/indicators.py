"""Counts of messages per BAL for the monthly indicators of apps.mailboxes (asked through its signal
`message_counts_requested`, answered in `receivers.py`): mailboxes never reads messaging's tables."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count

from apps.messaging.models import Message, MessageCopy, MessageKind


def count_messages_sent(start: dt.datetime, end: dt.datetime) -> dict[int, int]:
    rows = (
        Message.objects.filter(kind=MessageKind.NORMAL, from_mailbox__isnull=False, sent_at__gte=start)
        .filter(sent_at__lt=end)
        .values("from_mailbox")
        .annotate(n=Count("pk"))
    )
    return {row["from_mailbox"]: row["n"] for row in rows}


def count_messages_received(start: dt.datetime, end: dt.datetime) -> dict[int, int]:
    rows = (
        MessageCopy.objects.filter(is_outgoing=False, message__kind=MessageKind.NORMAL)
        .filter(received_at__gte=start, received_at__lt=end)
        .values("mailbox")
        .annotate(n=Count("pk"))
    )
    return {row["mailbox"]: row["n"] for row in rows}
