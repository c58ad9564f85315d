"""BAL quotas: the usage counter the messaging services keep, and the refusal when a BAL is full."""

from __future__ import annotations

from django.conf import settings
from django.db.models import F

from apps.mailboxes.models import Mailbox

DEFAULT_QUOTA_BYTES = 5 * 1024**3


def quota_of(mailbox: Mailbox) -> int:
    if mailbox.quota_bytes is not None:
        return int(mailbox.quota_bytes)
    return int(getattr(settings, "MAILBOX_DEFAULT_QUOTA_BYTES", DEFAULT_QUOTA_BYTES))


def do_add_usage(mailbox_id: int, delta: int) -> None:
    """Add (or, negative, remove) bytes to a BAL's usage, inside the caller's transaction."""
    if delta:
        Mailbox.objects.filter(pk=mailbox_id).update(used_bytes=F("used_bytes") + delta)


def check_quota(mailbox: Mailbox, incoming_size: int) -> str | None:
    """A French refusal when `incoming_size` more bytes would exceed the BAL's quota, else None."""
    if mailbox.used_bytes + incoming_size <= quota_of(mailbox):
        return None
    return f"La boîte aux lettres {mailbox.address} est pleine : le message n'a pas pu y être déposé."
