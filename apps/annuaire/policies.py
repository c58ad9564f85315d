"""Who may query the directory, and how often.

Only authenticated professionals, their staff and operator admins: the annuaire is the trust space's list
of who is who, and scraping it is a real threat, so queries are also rate limited per user.
"""

from __future__ import annotations

from django.conf import settings

from apps.accounts.models import UserKind
from mssante_lib import ratelimit

DIRECTORY_KINDS = frozenset({UserKind.PROFESSIONAL, UserKind.STAFF, UserKind.OPERATOR_ADMIN})


def can_search_directory(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.kind in DIRECTORY_KINDS or user.is_superuser


def check_search_rate(user) -> bool:
    """Count one query for `user` in the current minute; False once the per-minute budget is spent."""
    rule = ratelimit.Rule(limit=settings.ANNUAIRE_SEARCH_RATE_PER_MINUTE, period=60, scope="user")
    return ratelimit.consume("annuaire_search", [rule], {"user": user.pk}).allowed
