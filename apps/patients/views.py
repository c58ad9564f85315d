"""Patient portal, messages: the inbox, a conversation, replying, attachments (download, save).

Thin views: the profile comes from `patient_view` (patients only, second factor required), reads from
apps.patients.selectors (which read messages through messaging's selectors), writes through services.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.store.storage import MessageTooLarge
from apps.messaging.webmail.message import attachment_chunks, get_attachment, get_message_view
from apps.messaging.webmail.services import do_mark_read
from apps.patients import selectors
from apps.patients.forms import ReplyForm, SaveAttachmentForm
from apps.patients.models import DocumentCategory, PatientProfile
from apps.patients.policies import without_addresses
from apps.patients.portal import patient_view
from apps.patients.services_documents import DocumentRefused, do_save_attachment
from apps.patients.services_messages import do_send_reply


def refusal_text(exc: SubmissionRefused) -> str:
    """The French reasons of a refused submission, without the addresses they are keyed by."""
    reasons = list(dict.fromkeys(exc.refusals.values()))
    return without_addresses(" ".join(reasons) if reasons else exc.message)


def send_or_show_refusal(request: HttpRequest, send: Callable[[], object]) -> bool:
    """Run a patient's send; a refusal or a too large message becomes an error shown on the page (False)."""
    try:
        send()
    except SubmissionRefused as exc:
        messages.error(request, refusal_text(exc))
    except MessageTooLarge as exc:
        messages.error(request, str(exc))
    else:
        return True
    return False


@require_GET
@patient_view
def inbox(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    sent = request.GET.get("dossier") == "envoyes"
    rows, next_cursor = selectors.list_inbox(profile, after=request.GET.get("apres"), sent=sent)
    context = {"profile": profile, "rows": rows, "next_cursor": next_cursor, "sent": sent}
    return render(request, "patients/inbox.html", context)


def _copy_or_404(profile: PatientProfile, copy_id: int):  # noqa: ANN202
    copy = selectors.get_patient_copy(profile, copy_id)
    if copy is None:
        raise Http404
    return copy


def _thread_context(request: HttpRequest, profile: PatientProfile, copy_id: int) -> dict[str, object]:
    copy = _copy_or_404(profile, copy_id)
    thread = selectors.thread_copies(copy)
    names = selectors.names_for(one.message.sender_address for one in thread)
    items, views = [], []
    saved = selectors.saved_attachments(profile, [one.message_id for one in thread])
    for one in thread:
        if not one.is_read:
            do_mark_read(one, user=request.user)
        view = get_message_view(one, user=request.user)
        name = "Vous" if one.is_outgoing else selectors.sender_name(one.message, names)
        views.append(view)
        items.append({"copy": one, "view": view, "name": name, "saved": saved.get(one.message_id, set())})
    return {
        "profile": profile,
        "copy": copy,
        "items": items,
        "subject": views[0].display_subject if views else "",
        "reply": selectors.get_reply_state(profile, thread),
        "categories": DocumentCategory.choices,
    }


@require_GET
@patient_view
def thread(request: HttpRequest, profile: PatientProfile, copy_id: int) -> HttpResponse:
    context = _thread_context(request, profile, copy_id)
    context["form"] = ReplyForm()
    return render(request, "patients/thread.html", context)


@require_POST
@patient_view
def reply(request: HttpRequest, profile: PatientProfile, copy_id: int) -> HttpResponse:
    copy = _copy_or_404(profile, copy_id)
    form = ReplyForm(request.POST, request.FILES)
    state = selectors.get_reply_state(profile, selectors.thread_copies(copy))
    if form.is_valid() and state.target is not None:
        send = functools.partial(
            do_send_reply,
            profile,
            state.target,
            text=form.cleaned_data["text"],
            files=form.cleaned_data["pieces"],
            acting_user=request.user,
        )
        if send_or_show_refusal(request, send):
            messages.success(request, f"Votre réponse a été envoyée à {state.target_name}.")
            return redirect("patients:thread", copy_id=copy.pk)
    elif state.target is None:
        messages.error(request, state.reason)
    context = _thread_context(request, profile, copy_id)
    context["form"] = form
    return render(request, "patients/thread.html", context, status=400)


@require_GET
@patient_view
def attachment(
    request: HttpRequest, profile: PatientProfile, copy_id: int, position: int
) -> HttpResponseBase:
    copy = _copy_or_404(profile, copy_id)
    found = get_attachment(copy, position)
    if found is None:
        raise Http404
    response = StreamingHttpResponse(attachment_chunks(copy, found), content_type="application/octet-stream")
    response.headers["Content-Length"] = str(found.size)
    response.headers["Content-Disposition"] = found.content_disposition(inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@require_POST
@patient_view
def save_attachment(
    request: HttpRequest, profile: PatientProfile, copy_id: int, position: int
) -> HttpResponse:
    copy = _copy_or_404(profile, copy_id)
    form = SaveAttachmentForm(request.POST)
    category = form.cleaned_data["category"] if form.is_valid() else DocumentCategory.OTHER
    try:
        do_save_attachment(profile, copy, position, category=category, acting_user=request.user)
    except DocumentRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Le document est enregistré dans « Mes documents ».")
    return redirect("patients:thread", copy_id=copy.pk)
