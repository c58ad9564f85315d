"""Acting in BALs: "Mes BAL", switching, a BAL's overview and its journal. Every BAL id goes through
`access_mailbox` (404 for a BAL the user may not use)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from apps.accounts.models import User
from apps.audit.selectors import list_mailbox_events
from apps.mailboxes import selectors
from apps.mailboxes.current import get_current_mailbox, set_current_mailbox
from apps.mailboxes.labels import action_label, change_lines
from apps.mailboxes.models import MailboxKind
from apps.mailboxes.policies import (
    access_mailbox,
    can_manage_mailbox,
    can_view_mailbox_journal,
    membership_of,
    post_after_access,
)
from apps.mailboxes.services import do_record_mailbox_opened


@login_required
def mailbox_list(request: HttpRequest) -> HttpResponse:
    usable = selectors.list_mailboxes_for(request.user)
    current = get_current_mailbox(request, candidates=[one.mailbox for one in usable])
    return render(request, "mailboxes/list.html", {"usable": usable, "current": current})


@login_required
@post_after_access(for_manage=False)
def mailbox_open(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = access_mailbox(request.user, mailbox_id)
    set_current_mailbox(request, mailbox)
    do_record_mailbox_opened(mailbox, acting_user=request.user)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    # Opening a BAL means reading it: its webmail (named by URL only: mailboxes never imports messaging).
    if mailbox.kind == MailboxKind.PATIENT:
        return redirect("patients:inbox")
    return redirect("messaging:inbox", mailbox_id=mailbox.pk)


def _role_label(request: HttpRequest, mailbox) -> str:  # noqa: ANN001
    if mailbox.kind == MailboxKind.NOMINATIVE:
        return "Titulaire"
    membership = membership_of(request.user, mailbox)
    if membership is not None:
        return membership.get_role_display()
    return "Responsable"


@login_required
def mailbox_detail(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = access_mailbox(request.user, mailbox_id)
    context = {
        "mailbox": mailbox,
        "role_label": _role_label(request, mailbox),
        "members": selectors.list_members(mailbox) if mailbox.kind == MailboxKind.ORGANISATIONAL else [],
        "can_view_journal": can_view_mailbox_journal(request.user, mailbox),
        "can_manage": can_manage_mailbox(request.user, mailbox),
        "is_current": request.session.get("current_mailbox_id") == mailbox.pk,
    }
    return render(request, "mailboxes/detail.html", context)


@login_required
def mailbox_journal(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = access_mailbox(request.user, mailbox_id)
    if not can_view_mailbox_journal(request.user, mailbox):
        raise Http404
    before = request.GET.get("avant", "")
    page = list_mailbox_events(mailbox.pk, before_id=int(before) if before.isdigit() else None)
    actor_ids = {event.actor_id for event in page.events if event.actor_id}
    names = {user.pk: user.get_full_name() for user in User.objects.filter(pk__in=actor_ids)}
    rows = [
        (
            event,
            names.get(event.actor_id or 0, ""),
            action_label(event.action, actor_label=event.actor_label),
            change_lines(event.details or {}),
        )
        for event in page.events
    ]
    return render(request, "mailboxes/journal.html", {"mailbox": mailbox, "rows": rows, "page": page})
