"""Who may query the directory, and how often.

Only authenticated professionals, their staff and operator admins: the annuaire is the trust space's list
of who is who, and scraping it is a real threat, so queries are also rate limited per user.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.models import UserKind

DIRECTORY_KINDS = frozenset({UserKind.PROFESSIONAL, UserKind.STAFF, UserKind.OPERATOR_ADMIN})


def can_search_directory(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.kind in DIRECTORY_KINDS or user.is_superuser


def check_search_rate(user) -> bool:
    """Count one query for `user` in the current minute; False once the per-minute budget is spent."""
    limit = settings.ANNUAIRE_SEARCH_RATE_PER_MINUTE
    minute = timezone.now().strftime("%Y%m%d%H%M")
    key = f"annuaire:rate:{user.pk}:{minute}"
    # add() then incr() is atomic on Redis: parallel requests of one user cannot both slip under the limit.
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    return count <= limit
