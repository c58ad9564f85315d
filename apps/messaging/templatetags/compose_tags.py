"""`{% compose_refusal mailbox as refusal %}`: why « Nouveau message » is not offered in this BAL, or ""."""

from __future__ import annotations

from typing import Any

from django import template

from apps.mailboxes.models import Mailbox
from apps.messaging.policies_compose import sending_refusal

register = template.Library()


@register.simple_tag(takes_context=True)
def compose_refusal(context: Any, mailbox: Mailbox) -> str:
    # The top bar's switcher already lists the user's BALs with their role: no extra query here.
    switcher = context.get("mailbox_switcher")
    usable = getattr(switcher, "usable", []) if switcher is not None else []
    can_write = any(one.mailbox.pk == mailbox.pk and one.can_write for one in usable)
    return sending_refusal(mailbox, can_write=can_write)
