"""Failed-authentication budgets, counted by the platform's one rate limiter (mssante_lib.ratelimit).

Two budgets, so that a mail client misconfigured with a stale application password cannot lock its owner
out of the webmail: the web login (`LOGIN_FAILED_RATE`, allauth's rule format) and application passwords
and tokens used by mail clients and practice software over SMTP submission and IMAP
(`APP_PASSWORD_FAILED_RATE`). Both count per login and per client address.
"""

from __future__ import annotations

from django.conf import settings

from mssante_lib import ratelimit

WEB_LOGIN = "login_failed"
MAIL_CLIENT = "app_password_failed"


def _rules(action: str) -> list[ratelimit.Rule]:
    name = "LOGIN_FAILED_RATE" if action == WEB_LOGIN else "APP_PASSWORD_FAILED_RATE"
    return ratelimit.parse_rules(getattr(settings, name, "") or "5/5m/key,20/5m/ip")


def consume_attempt(action: str, login: str, ip: str | None) -> ratelimit.Usage:
    """Count an authentication attempt; a refused Usage means the budget is spent (`retry_after` seconds).
    The caller calls `rollback()` when the attempt succeeds: only failures use the budget."""
    return ratelimit.consume(action, _rules(action), {"key": (login or "").strip().lower(), "ip": ip})


def clear_attempts(action: str, login: str) -> None:
    ratelimit.clear(action, _rules(action), {"key": (login or "").strip().lower()})
