"""E-mail outside the trust space: the channel that reaches people where MSSanté cannot (inactivity notices,
quota warnings, certificate alerts, invitations). Django's e-mail backend to an ordinary relay; these
messages never carry health data (templates/emails/)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) from templates/emails/<template>.subject.txt and .txt."""
    subject = render_to_string(f"emails/{template}.subject.txt", context)
    body = render_to_string(f"emails/{template}.txt", context)
    return " ".join(subject.split()), body


def send_each(template: str, messages: list[tuple[str, dict[str, Any]]]) -> int:
    """Send one e-mail per (address, context) over one connection; returns how many went out. Raises on a
    transport failure so that the caller records nothing as sent."""
    if not messages:
        return 0
    emails = []
    for address, context in messages:
        subject, body = render_email(template, context)
        emails.append(EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))
    with get_connection() as connection:
        return int(connection.send_messages(emails) or 0)
