"""Where a login lands: the patient's portal, else the inbox of the BAL last used, else the administration.

Before, everyone landed on the professional home page, where a patient read « Aucune BAL ne vous est encore
attribuée » and a doctor had one more click before his mail.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from apps.mailboxes.current import SESSION_KEY
from apps.mailboxes.policies import can_use_administration
from apps.mailboxes.selectors import list_mailboxes_for
from apps.patients.policies import is_patient


@login_required
def landing(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if is_patient(user):
        return redirect("patients:inbox")
    usable = {one.mailbox.pk: one.mailbox for one in list_mailboxes_for(user)}
    for pk in (request.session.get(SESSION_KEY), user.last_mailbox_id):
        if pk in usable:
            return redirect("messaging:inbox", pk)
    if usable:
        return redirect("messaging:inbox", next(iter(usable)))
    if can_use_administration(user):
        return redirect("mailboxes:admin-list")
    return redirect("home")
