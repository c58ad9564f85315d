"""Alerting operator administrators about certificates and CRLs, by e-mail outside the trust space.

The same channel as the inactivity notices (`apps.accounts.outside_mail.send_each`: the administrators'
outside address, else their account address). Mails carry no health data: issuers, serials, DNs, dates.
A relay that cannot be reached must not hide an alert already logged and journaled: failures are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from apps.trust.alerts import operator_admin_recipients

logger = logging.getLogger(__name__)


def inventory_url() -> str:
    return (settings.SITE_URL or "").rstrip("/") + reverse("confiance:certificats")


def mail_admins(subject: str, text: str, *, lines: Iterable[str] = (), consequence: str = "") -> int:
    """One mail to each operator administrator; returns how many went out (0 when none could)."""
    from apps.accounts.outside_mail import send_each

    recipients = operator_admin_recipients()
    if not recipients:
        logger.warning("trust: no operator admin with an e-mail address to alert: %s", subject)
        return 0
    context = {
        "OPERATOR_NAME": settings.OPERATOR_NAME,
        "subject": subject,
        "text": text,
        "lines": list(lines),
        "consequence": consequence,
        "page_url": inventory_url(),
    }
    try:
        return send_each("certificates_alert", [(address, context) for address in recipients])
    except Exception:
        logger.exception("trust: could not mail operator admins: %s", subject)
        return 0


def mail_admins_once(key: str, seconds: int, subject: str, text: str, **kwargs: object) -> int:
    """`mail_admins` at most once per `seconds` for `key` (shared cache): a revoked peer retried every few
    minutes must not send a mail each time; the journal keeps every occurrence."""
    try:
        if not cache.add(f"trust:alert:{key}", 1, timeout=seconds):
            return 0
    except Exception:  # the cache being down: better one mail too many than none
        logger.exception("trust: cache unavailable for alert throttling")
    return mail_admins(subject, text, **kwargs)  # type: ignore[arg-type]
