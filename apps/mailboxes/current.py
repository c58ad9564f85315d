"""The BAL a person is currently acting in: its id lives in the session and is re-checked at every use."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest

from apps.mailboxes.models import Mailbox
from apps.mailboxes.policies import access_mailbox

SESSION_KEY = "current_mailbox_id"


def get_current_mailbox(request: HttpRequest, *, candidates: list[Mailbox] | None = None) -> Mailbox | None:
    """The session's BAL if the policy still lets the user act in it; forgotten otherwise (removed member,
    suspended BAL...). `candidates` (already loaded) saves a query when the BAL is among them."""
    if not request.user.is_authenticated:
        return None
    pk = request.session.get(SESSION_KEY)
    if pk is None:
        return None
    found: Any = next((one for one in candidates or [] if one.pk == pk), None)
    try:
        return access_mailbox(request.user, found or pk)
    except Http404:
        request.session.pop(SESSION_KEY, None)
        return None


def set_current_mailbox(request: HttpRequest, mailbox: Mailbox) -> None:
    request.session[SESSION_KEY] = mailbox.pk
    user: Any = request.user
    if user.is_authenticated and user.last_mailbox_id != mailbox.pk:
        # Remembered across sessions: the next login lands on this BAL's inbox (mssante_web.landing).
        get_user_model().objects.filter(pk=user.pk).update(last_mailbox_id=mailbox.pk)
        user.last_mailbox_id = mailbox.pk
