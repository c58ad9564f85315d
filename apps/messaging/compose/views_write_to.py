"""« Écrire » from the directory (and from a link in a received message): the composer, never a `mailto:`.

A `mailto:` link opened an outside mail program, outside the trust space. This address opens the composer of
the BAL the person is acting in (or the first one they may write from) with the recipient filled in.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.mailboxes.current import get_current_mailbox
from apps.mailboxes.models import MailboxKind
from apps.mailboxes.selectors import list_mailboxes_for
from apps.messaging.policies import can_send_from

NO_SENDING_BAL = (
    "Aucune de vos BAL ne vous permet d'écrire un message : demandez un accès en envoi à son gestionnaire."
)


def write_to_url(address: str) -> str:
    return reverse("messaging:write-to") + "?a=" + quote(address.strip()[:254], safe="@")


@login_required
@require_GET
def write_to(request: HttpRequest) -> HttpResponse:
    usable = list_mailboxes_for(request.user)
    current = get_current_mailbox(request, candidates=[one.mailbox for one in usable])
    if current is None or not can_send_from(request.user, current):
        current = next(
            (one.mailbox for one in usable if one.can_write and one.mailbox.kind != MailboxKind.APPLICATIVE),
            None,
        )
    if current is None:
        raise PermissionDenied(NO_SENDING_BAL)
    address = request.GET.get("a", "").strip()[:254]
    url = reverse("messaging:compose", args=[current.pk])
    return redirect(f"{url}?a={quote(address, safe='@')}" if address else url)
