"""The BAL switcher of the top bar, computed lazily: pages that do not show it pay nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.mailboxes.current import get_current_mailbox
from apps.mailboxes.models import Mailbox
from apps.mailboxes.policies import can_use_administration
from apps.mailboxes.selectors import UsableMailbox, list_mailboxes_for


@dataclass
class Switcher:
    usable: list[UsableMailbox] = field(default_factory=list)
    current: Mailbox | None = None
    can_administer: bool = False


def _build(request: HttpRequest) -> Switcher:
    if not request.user.is_authenticated:
        return Switcher()
    usable = list_mailboxes_for(request.user)
    current = get_current_mailbox(request, candidates=[one.mailbox for one in usable])
    return Switcher(usable=usable, current=current, can_administer=can_use_administration(request.user))


def mailboxes(request: HttpRequest) -> dict[str, object]:
    return {"mailbox_switcher": SimpleLazyObject(lambda: _build(request))}
