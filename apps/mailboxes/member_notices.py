"""The BAL's responsible professional is told of every new member (issue 14), through Django's e-mail backend
(the channel of the inactivity notices). No health data: who joined, with which role, added by whom."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from apps.mailboxes.models import MailboxMembership

log = logging.getLogger(__name__)


def tell_responsible(membership: MailboxMembership, *, acting_user: Any) -> None:
    mailbox, member = membership.mailbox, membership.user
    responsible = mailbox.responsible
    if responsible is None or responsible.pk == getattr(acting_user, "pk", None) or not responsible.email:
        return  # the responsible added the member: nothing to tell
    context = {
        "mailbox": mailbox,
        "member": member.get_full_name() or member.email,
        "role": membership.get_role_display().lower(),
        "actor": (acting_user.get_full_name() or acting_user.email) if acting_user is not None else "",
    }
    subject = render_to_string("emails/member_added.subject.txt", context).strip()
    body = render_to_string("emails/member_added.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [responsible.email], fail_silently=False)
    except Exception:  # noqa: BLE001 — the membership stands; the journal has it
        log.exception("membership %s: the responsible could not be told", membership.pk)
