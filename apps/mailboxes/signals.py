"""What mailboxes announces to the apps above it (mailboxes never imports them: docs/design.md §1).

- `mailbox_deleting(mailbox_id)`: sent inside the transaction that deletes a BAL, before its row goes.
  Apps holding rows that point at the BAL delete them (messaging's copies: their folder is a PROTECT key,
  which would stop the cascade).
- `message_counts_requested(start, end)`: the monthly indicators ask how many messages each BAL sent and
  received in [start, end); a receiver returns `MessageCounts`. Without one (messaging not installed)
  every count is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.dispatch import Signal

mailbox_deleting = Signal()
message_counts_requested = Signal()


@dataclass
class MessageCounts:
    sent: dict[int, int] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)


def collect_message_counts(start: object, end: object) -> MessageCounts:
    total = MessageCounts()
    for receiver, counts in message_counts_requested.send(sender=MessageCounts, start=start, end=end):
        if not isinstance(counts, MessageCounts):
            raise TypeError(f"{receiver!r} answered message_counts_requested with {type(counts).__name__}")
        for mailbox_id, n in counts.sent.items():
            total.sent[mailbox_id] = total.sent.get(mailbox_id, 0) + n
        for mailbox_id, n in counts.received.items():
            total.received[mailbox_id] = total.received.get(mailbox_id, 0) + n
    return total
