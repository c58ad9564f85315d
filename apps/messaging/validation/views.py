"""The validation queue of an applicative BAL: its responsible professional reads what the software
submitted (content and attachments) and validates one, several or all messages, or rejects one with a reason.

Anyone else gets a 404 (the BAL's existence does not leak). Writes go through services_validation.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.mailboxes.models import Mailbox
from apps.mailboxes.policies import can_review_mailbox
from apps.messaging.validation import selectors as queue
from apps.messaging.validation.services import do_reject_message, do_validate_all, do_validate_messages


def _reviewable(request: HttpRequest, mailbox_id: int) -> Mailbox:
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None or not can_review_mailbox(request.user, mailbox):
        raise Http404
    return mailbox


def _queue_context(mailbox: Mailbox) -> dict[str, object]:
    items = queue.list_held(mailbox)
    total = queue.count_held(mailbox)
    return {"mailbox": mailbox, "items": items, "total": total, "more": total > len(items)}


def _answer(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    """htmx: the refreshed queue fragment (with the flash messages); otherwise back to the queue page."""
    if getattr(request, "htmx", False):
        return render(request, "messaging/_validation_queue.html", _queue_context(mailbox))
    return redirect("messaging:validation-queue", mailbox.pk)


@login_required
@require_GET
def validation_queue(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _reviewable(request, mailbox_id)
    return render(request, "messaging/validation_queue.html", _queue_context(mailbox))


@login_required
@require_GET
def validation_detail(request: HttpRequest, mailbox_id: int, message_id: uuid.UUID) -> HttpResponse:
    mailbox = _reviewable(request, mailbox_id)
    item = queue.get_held(mailbox, message_id)
    if item is None:
        messages.info(request, "Ce message a déjà été validé ou refusé.")
        return redirect("messaging:validation-queue", mailbox.pk)
    return render(request, "messaging/validation_detail.html", {"mailbox": mailbox, "item": item})


def _selected_messages(request: HttpRequest, mailbox: Mailbox) -> list:
    ids = []
    for raw in request.POST.getlist("messages"):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    return list(queue.held_messages(mailbox).filter(pk__in=ids).select_related("from_mailbox"))


@login_required
@require_POST
def validation_validate(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _reviewable(request, mailbox_id)
    try:
        if request.POST.get("scope") == "all":
            count = do_validate_all(mailbox, acting_user=request.user)
        else:
            selected = _selected_messages(request, mailbox)
            if not selected:
                messages.warning(request, "Cochez au moins un message à valider.")
                return _answer(request, mailbox)
            count = len(do_validate_messages(selected, acting_user=request.user))
    except PermissionDenied:
        raise Http404 from None
    if count:
        plural = "s" if count > 1 else ""
        messages.success(request, f"{count} message{plural} validé{plural} : l'envoi est en cours.")
    else:
        messages.info(request, "Aucun message à valider : ils ont déjà été traités.")
    return _answer(request, mailbox)


@login_required
@require_POST
def validation_reject(request: HttpRequest, mailbox_id: int, message_id: uuid.UUID) -> HttpResponse:
    mailbox = _reviewable(request, mailbox_id)
    message = queue.held_messages(mailbox).filter(pk=message_id).select_related("from_mailbox").first()
    if message is None:
        messages.info(request, "Ce message a déjà été validé ou refusé.")
        return _answer(request, mailbox)
    try:
        rejected = do_reject_message(message, reason=request.POST.get("reason", ""), acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        if not getattr(request, "htmx", False):
            return redirect(reverse("messaging:validation-detail", args=[mailbox.pk, message.pk]))
        return _answer(request, mailbox)
    except PermissionDenied:
        raise Http404 from None
    if rejected:
        messages.success(request, "Message refusé : il ne sera pas envoyé et le logiciel connaîtra le motif.")
    return _answer(request, mailbox)
