"""`{{ event|event_sentence }}`: the journal event as a plain French sentence (apps.audit.event_types)."""

from __future__ import annotations

from django import template

from apps.audit.event_types import sentence_for
from apps.audit.models import AuditEvent

register = template.Library()


@register.filter
def event_sentence(event: AuditEvent) -> str:
    return sentence_for(event.action, actor_label=event.actor_label, mailbox_label=event.mailbox_label)
