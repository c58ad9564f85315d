"""Who may read the journal. The whole journal is for operator administrators only."""

from __future__ import annotations

from typing import Any

from django.http import Http404

# The value of accounts.UserKind.OPERATOR_ADMIN, spelled out: accounts imports audit, never the reverse.
OPERATOR_ADMIN = "operator_admin"


def can_search_journal(user: Any) -> bool:
    return bool(user.is_authenticated and (getattr(user, "kind", "") == OPERATOR_ADMIN or user.is_superuser))


def access_journal(user: Any) -> None:
    """Raise 404 for anyone else: the journal pages are not even advertised to them."""
    if not can_search_journal(user):
        raise Http404
