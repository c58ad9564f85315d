"""Alerting operator administrators when a refresh kept the previous list (mail outside the trust space).

The mail carries no health data: counts, the reason and a link to the liste blanche page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string
from django.urls import reverse

from apps.accounts.models import User, UserKind
from apps.trust.models import ListeBlancheRefresh

logger = logging.getLogger(__name__)


def operator_admin_recipients() -> list[str]:
    users = User.objects.filter(is_active=True, kind=UserKind.OPERATOR_ADMIN).order_by("pk")
    addresses = [user.outside_email or user.email for user in users]
    return [address for address in addresses if address]


def alert_refresh_kept_previous(refresh_id: int) -> int:
    """Mail every operator admin about one rejected/failed refresh; returns the number of mails sent."""
    refresh = ListeBlancheRefresh.objects.get(pk=refresh_id)
    recipients = operator_admin_recipients()
    if not recipients:
        logger.warning(
            "trust: no operator admin with an e-mail address to alert about refresh %s", refresh_id
        )
        return 0
    context = {
        "refresh": refresh,
        "page_url": (settings.SITE_URL or "").rstrip("/") + reverse("confiance:liste-blanche"),
        "OPERATOR_NAME": settings.OPERATOR_NAME,
    }
    subject = render_to_string("trust/emails/refresh_rejected.subject.txt", context).strip()
    body = render_to_string("trust/emails/refresh_rejected.txt", context)
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in recipients]
    try:
        return send_mass_mail(messages, fail_silently=False)
    except Exception:  # an unreachable relay must not hide the alert already logged and journaled
        logger.exception("trust: could not mail operator admins about refresh %s", refresh_id)
        return 0
