"""The composer (new message, reply, reply to all, forward, drafts saved as you type), the per-address check
before sending, the sender's delivery timeline and the read receipt preference.

Every BAL goes through `access_mailbox(for_write=True)` + `can_send_from`, every original through
`access_copy`, every draft through `get_draft` (its author only). Views that receive files install the
encrypting upload handler before the body is read, hence `csrf_exempt` outside and `csrf_protect` inside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from apps.annuaire.models import BalAddress
from apps.annuaire.policies import can_search_directory
from apps.mailboxes.current import set_current_mailbox
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import access_mailbox
from apps.mailboxes.selectors import list_mailboxes_for
from apps.messaging.compose import selectors as drafts
from apps.messaging.compose import uploads as draft_uploads
from apps.messaging.compose.forms import ComposeForm, ReadReceiptPreferenceForm, SignatureForm, initial_of
from apps.messaging.compose.services import (
    DraftContent,
    DraftKeying,
    attachment_budget,
    do_delete_draft,
    do_remove_draft_attachment,
    do_save_draft,
    do_send_draft,
    idempotency_key_of,
    open_draft,
)
from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import Draft, FolderRole, Message, MessageCopy
from apps.messaging.policies import access_copy, can_send_from, check_recipient
from apps.messaging.policies_compose import refusal_for
from apps.messaging.preferences import do_set_read_receipt_policy, do_set_signature
from apps.messaging.recipient_policies import RecipientContext
from apps.messaging.store.folders import system_folder
from apps.messaging.store.storage import MessageTooLarge

log = logging.getLogger(__name__)
DRAFT_HEADER = "X-Draft-Id"
TIMELINE_POLL_SECONDS = 3
TIMELINE_SLOW_POLL_SECONDS = 20


def _sending_mailbox(request: HttpRequest, mailbox_id: int) -> Mailbox:
    mailbox = access_mailbox(request.user, mailbox_id)
    if not can_send_from(request.user, mailbox):
        # The user may read this BAL (access_mailbox passed): saying why writing is impossible leaks nothing.
        raise PermissionDenied(refusal_for(request.user, mailbox))
    if request.session.get("current_mailbox_id") != mailbox.pk:
        set_current_mailbox(request, mailbox)
    return mailbox


def _original(request: HttpRequest, mailbox: Mailbox, copy_id: str | None) -> MessageCopy | None:
    """The message answered or forwarded: a copy of the same BAL the user may read."""
    if not copy_id:
        return None
    copy = access_copy(request.user, copy_id)
    if copy.mailbox_id != mailbox.pk:
        raise Http404
    return copy


def _senders(request: HttpRequest) -> list[Mailbox]:
    """The BALs the user may send from (mirrors can_send_from, in one query)."""
    usable = list_mailboxes_for(request.user)
    return [one.mailbox for one in usable if one.can_write and one.mailbox.kind != MailboxKind.APPLICATIVE]


def _from_choices(request: HttpRequest) -> list[tuple[int, str]]:
    return [(one.pk, one.address) for one in _senders(request)]


def _from_options(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "id": one.pk,
            "kind": one.kind,
            "label": f"{one.display_name} <{one.address}>" if one.display_name else one.address,
        }
        for one in _senders(request)
    ]


@dataclass
class Composition:
    """Everything the composer page shows; built for GET and for a POST to re-render."""

    mailbox: Mailbox
    draft: Draft | None = None
    reply_to: MessageCopy | None = None
    forward: MessageCopy | None = None
    files: list[Any] = field(default_factory=list)
    forwarded_names: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)


def _person(user: Any) -> str:
    return user.get_full_name() or user.email


def _from_value(comp: Composition, form: ComposeForm) -> int:
    if comp.reply_to is not None:
        return comp.reply_to.mailbox_id
    value = str(form["from_mailbox"].value() or "")
    return int(value) if value.isdigit() else comp.mailbox.pk


def _context(request: HttpRequest, comp: Composition, form: ComposeForm) -> dict[str, Any]:
    mailbox = comp.mailbox
    options = _from_options(request)
    from_value = _from_value(comp, form)
    kinds = {option["id"]: option["kind"] for option in options}
    if comp.reply_to is not None:
        kinds[from_value] = comp.reply_to.mailbox.kind
    return {
        "mailbox": mailbox,
        "form": form,
        "from_options": options,
        "from_value": from_value,
        "on_behalf": kinds.get(from_value) == MailboxKind.ORGANISATIONAL,
        "comp": comp,
        "draft": comp.draft,
        "person": _person(request.user),
        "max_upload_bytes": attachment_budget(None),
        "max_upload_label": f"{attachment_budget(None) / (1024 * 1024):.0f} Mo",
        "compose_url": _compose_url(mailbox, comp),
        "save_url": _with_draft(reverse("messaging:draft-save", args=[mailbox.pk]), comp),
        "upload_url": _with_draft(reverse("messaging:draft-attachment-upload", args=[mailbox.pk]), comp),
        "check_url": reverse("messaging:recipient-check", args=[mailbox.pk]),
        "recent": [] if comp.reply_to else drafts.list_recent_correspondents(mailbox),
        "autocomplete_url": reverse("annuaire:autocomplete") if can_search_directory(request.user) else "",
    }


def _origin_query(comp: Composition) -> str:
    if comp.draft is not None:
        return f"?draft={comp.draft.pk}"
    if comp.reply_to is not None:
        return f"?reply={comp.reply_to.pk}"
    if comp.forward is not None:
        return f"?forward={comp.forward.pk}"
    return ""


def _compose_url(mailbox: Mailbox, comp: Composition) -> str:
    return reverse("messaging:compose", args=[mailbox.pk]) + _origin_query(comp)


def _with_draft(url: str, comp: Composition) -> str:
    return url + _origin_query(comp)


def _render(request: HttpRequest, comp: Composition, form: ComposeForm, status: int = 200) -> HttpResponse:
    return render(request, "messaging/compose.html", _context(request, comp, form), status=status)


# --- GET: a new message, a reply, a forward or a draft --------------------------------------------------


def _origin(query: Any) -> tuple[str, str, bool, str]:
    """draft, reply, reply to all, forward from the query; the message view's French names are accepted."""
    reply_all = query.get("all") == "1" or bool(query.get("repondre_tous"))
    reply = query.get("reply") or query.get("repondre") or query.get("repondre_tous") or ""
    return query.get("draft", ""), reply, reply_all, query.get("forward") or query.get("transferer") or ""


def _start(request: HttpRequest, mailbox: Mailbox) -> tuple[Composition, DraftContent]:
    comp = Composition(mailbox)
    draft_id, reply, reply_all, forward = _origin(request.GET)
    if draft_id:
        comp.draft = drafts.get_draft(request.user, mailbox, draft_id)
        comp.reply_to = comp.draft.reply_to_copy
        data = open_draft(comp.draft)
        comp.files = drafts.list_draft_files(comp.draft)
    elif reply:
        comp.reply_to = _original(request, mailbox, reply)
        assert comp.reply_to is not None
        data = drafts.reply_content(comp.reply_to, reply_all=reply_all)
    elif forward:
        comp.forward = _original(request, mailbox, forward)
        assert comp.forward is not None
        data = drafts.forward_content(comp.forward)
        comp.forwarded_names = drafts.open_original(comp.forward).attachment_names
    else:
        data = DraftContent(to=[request.GET.get("a", "")[:254]] if request.GET.get("a") else [])
    if comp.draft is None:
        sending = comp.reply_to.mailbox if comp.reply_to else mailbox
        data = drafts.with_signature(data, drafts.signature_for(sending, request.user))
    return comp, data


@login_required
def compose(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _sending_mailbox(request, mailbox_id)
    if request.method == "POST":
        return _receive(request, mailbox, mode="page")
    if request.method != "GET":
        return HttpResponse(status=405)
    comp, data = _start(request, mailbox)
    form = ComposeForm(initial=initial_of(data, mailbox.pk), from_choices=_from_choices(request))
    return _render(request, comp, form)


compose = csrf_exempt(compose)


# --- POST: save (autosave or button), upload, send ------------------------------------------------------


def _keying(request: HttpRequest, mailbox: Mailbox) -> DraftKeying:
    draft_id = request.GET.get("draft")
    if not draft_id:
        return DraftKeying.new()
    return DraftKeying.of(drafts.get_draft(request.user, mailbox, draft_id))


def _already_sent(request: HttpRequest, mailbox: Mailbox) -> Message | None:
    """A second click on « Envoyer » after the draft was sent: the message it became."""
    draft_id = request.GET.get("draft", "")
    if not draft_id:
        return None
    user: Any = request.user
    return Message.objects.filter(idempotency_key=idempotency_key_of(draft_id), sent_by=user).first()


def _receive(request: HttpRequest, mailbox: Mailbox, *, mode: str) -> HttpResponse:
    try:
        keying = _keying(request, mailbox)
    except Http404:
        sent = _already_sent(request, mailbox)
        if sent is None or mode != "page":
            raise
        return redirect(_timeline_url_of(sent))
    handler = draft_uploads.install(request, keying, attachment_budget(keying.draft))
    try:
        return _receive_protected(request, mailbox, keying, handler, mode)
    finally:
        handler.discard_unsaved()


@csrf_protect
def _receive_protected(
    request: HttpRequest, mailbox: Mailbox, keying: DraftKeying, handler: Any, mode: str
) -> HttpResponse:
    form = ComposeForm(request.POST, from_choices=_from_choices(request))  # the body is parsed by now
    comp = Composition(mailbox, draft=keying.draft, errors=list(handler.errors))
    if keying.draft is not None:
        comp.reply_to, forward = keying.draft.reply_to_copy, None
    else:
        _draft, reply, _all, forward_id = _origin(request.GET)
        comp.reply_to = _original(request, mailbox, reply)
        forward = _original(request, mailbox, forward_id)
    draft = do_save_draft(
        mailbox,
        form.draft_content(),
        acting_user=request.user,
        keying=keying,
        uploads=handler.parts,
        reply_to_copy=comp.reply_to,
        forward_copy=forward,
    )
    handler.saved()
    comp.draft = draft
    if mode == "save":
        return _saved_status(request, comp)
    if mode == "upload":
        return _attachments_fragment(request, comp)
    return _page_action(request, comp, form)


def _page_action(request: HttpRequest, comp: Composition, form: ComposeForm) -> HttpResponse:
    assert comp.draft is not None
    draft_url = reverse("messaging:compose", args=[comp.mailbox.pk]) + f"?draft={comp.draft.pk}"
    removal = request.POST.get("remove_attachment", "")
    if removal.isdigit():
        do_remove_draft_attachment(comp.draft, int(removal), acting_user=request.user)
        return redirect(draft_url)
    if request.POST.get("action") != "send":
        if comp.errors:
            return _rerender(request, comp, form)
        messages.success(request, "Votre brouillon est enregistré.")
        return redirect(draft_url)
    if comp.errors or not form.is_valid():
        return _rerender(request, comp, form)
    return _send(request, comp, form)


def _rerender(request: HttpRequest, comp: Composition, form: ComposeForm) -> HttpResponse:
    assert comp.draft is not None
    comp.files = drafts.list_draft_files(comp.draft)
    return _render(request, comp, form)


def _send(request: HttpRequest, comp: Composition, form: ComposeForm) -> HttpResponse:
    assert comp.draft is not None
    try:
        message = do_send_draft(comp.draft, acting_user=request.user)
    except SubmissionRefused as exc:
        comp.errors.append(exc.message)
        comp.refusals = exc.refusals
        return _rerender(request, comp, form)
    except MessageTooLarge as exc:
        comp.errors.append(str(exc))
        return _rerender(request, comp, form)
    messages.success(request, "Votre message a été envoyé. Vous pouvez suivre sa remise ci-dessous.")
    return redirect(_timeline_url_of(message))


def _saved_status(request: HttpRequest, comp: Composition) -> HttpResponse:
    assert comp.draft is not None
    response = render(
        request,
        "messaging/_compose_status.html",
        {"draft": comp.draft, "saved_at": timezone.localtime(comp.draft.updated_at), "errors": comp.errors},
    )
    response[DRAFT_HEADER] = str(comp.draft.pk)
    return response


def _attachments_fragment(request: HttpRequest, comp: Composition, status: int = 200) -> HttpResponse:
    assert comp.draft is not None
    comp.files = drafts.list_draft_files(comp.draft)
    context = {"comp": comp, "mailbox": comp.mailbox, "draft": comp.draft, "upload_errors": comp.errors}
    response = render(request, "messaging/_compose_attachments.html", context, status=status)
    response[DRAFT_HEADER] = str(comp.draft.pk)
    return response


@login_required
def draft_save(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _sending_mailbox(request, mailbox_id)
    if request.method != "POST":
        return HttpResponse(status=405)
    return _receive(request, mailbox, mode="save")


draft_save = csrf_exempt(draft_save)


@login_required
def draft_attachment_upload(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _sending_mailbox(request, mailbox_id)
    if request.method != "POST":
        return HttpResponse(status=405)
    return _receive(request, mailbox, mode="upload")


draft_attachment_upload = csrf_exempt(draft_attachment_upload)


@login_required
@require_POST
def draft_attachment_delete(request: HttpRequest, mailbox_id: int, attachment_id: int) -> HttpResponse:
    mailbox = _sending_mailbox(request, mailbox_id)
    draft = drafts.get_draft(request.user, mailbox, request.GET.get("draft"))
    do_remove_draft_attachment(draft, attachment_id, acting_user=request.user)
    return _attachments_fragment(request, Composition(mailbox, draft=draft, reply_to=draft.reply_to_copy))


@login_required
@require_POST
def draft_delete(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _sending_mailbox(request, mailbox_id)
    draft = drafts.get_draft(request.user, mailbox, request.GET.get("draft"))
    do_delete_draft(draft, acting_user=request.user)
    messages.success(request, "Le brouillon a été supprimé.")
    folder = system_folder(mailbox.pk, FolderRole.DRAFTS)
    return redirect(reverse("messaging:folder", args=[mailbox.pk, folder.pk]))


# --- the per-address check before sending ---------------------------------------------------------------


@login_required
@require_GET
def recipient_check(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """One address through THE recipient rule (liste blanche, local BAL, registered policies): a warning
    shown next to the address while writing; the submission checks again."""
    mailbox = _sending_mailbox(request, mailbox_id)
    address = request.GET.get("address", "").strip()[:254]
    refusal = None
    if address:
        context = RecipientContext(
            sender_address=mailbox.address,
            recipient_address=address,
            sender_mailbox=mailbox,
            sender_user=request.user,
            stage="submit",
        )
        refusal = check_recipient(context)
    entry = BalAddress.objects.filter(address=address.lower()).first() if address and not refusal else None
    context_data = {"address": address, "refusal": refusal, "entry": entry}
    return render(request, "messaging/_compose_recipient_check.html", context_data)


# --- the sender's delivery timeline ---------------------------------------------------------------------


def _timeline_url_of(message: Message) -> str:
    copy = drafts.get_sent_copy(message)
    if copy is None:
        return reverse("home")
    return reverse("messaging:message-timeline", args=[copy.mailbox_id, copy.pk])


def timeline_context(copy: MessageCopy) -> dict[str, Any]:
    """For messaging/_timeline.html: the rows and how soon to poll again (None once nothing can change)."""
    message = copy.message
    rows = drafts.get_timeline(message)
    poll = None
    if not all(row.is_final for row in rows):
        poll = TIMELINE_POLL_SECONDS
    elif not drafts.timeline_is_settled(rows, wants_receipt=message.wants_read_receipt):
        poll = TIMELINE_SLOW_POLL_SECONDS
    return {
        "timeline_copy": copy,
        "timeline_rows": rows,
        "timeline_poll": poll,
        "timeline_url": reverse("messaging:message-timeline", args=[copy.mailbox_id, copy.pk]),
        "timeline_wants_receipt": message.wants_read_receipt,
    }


@login_required
@require_GET
def message_timeline(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    copy = access_copy(request.user, copy_id)
    if copy.mailbox_id != mailbox_id or not copy.is_outgoing:
        raise Http404
    context = timeline_context(copy)
    if getattr(request, "htmx", False):
        return render(request, "messaging/_timeline.html", context)
    subject = drafts.open_original(copy).subject
    context.update({"mailbox": copy.mailbox, "copy": copy, "subject": subject})
    return render(request, "messaging/timeline.html", context)


# --- preferences ----------------------------------------------------------------------------------------


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Read receipts and the signature: two forms on one page, each with its own button."""
    user: Any = request.user
    posted = request.POST if request.method == "POST" else None
    action = posted.get("action", "") if posted else ""
    if action.startswith("signature") and user.kind == "patient":
        return HttpResponse(status=403)  # patients never sign (the portal writes for them)
    form = ReadReceiptPreferenceForm(
        posted if action == "" else None, initial={"read_receipt_policy": user.read_receipt_policy}
    )
    signature_form = SignatureForm(
        posted if action == "signature" else None, initial={"signature": drafts.personal_signature(user)}
    )
    if action == "signature-annuaire":
        do_set_signature(user, None, acting_user=user)
        messages.success(request, "Votre signature suit de nouveau l'Annuaire Santé.")
        return redirect(reverse("messaging:preferences") + "#signature")
    if action == "signature" and signature_form.is_valid():
        text = signature_form.cleaned_data["signature"].replace("\r\n", "\n").strip("\n")
        # The annuaire's own text, unchanged, stays "follow the annuaire": a later move or new title shows.
        do_set_signature(user, None if text == drafts.annuaire_signature(user) else text, acting_user=user)
        done = "Votre signature est enregistrée." if text else "Vos messages ne seront plus signés."
        messages.success(request, done)
        return redirect(reverse("messaging:preferences") + "#signature")
    if action == "" and posted is not None and form.is_valid():
        do_set_read_receipt_policy(user, form.cleaned_data["read_receipt_policy"], acting_user=user)
        messages.success(request, "Vos préférences sont enregistrées.")
        return redirect("messaging:preferences")
    context = {
        "form": form,
        "signature_form": signature_form,
        "signature_follows_annuaire": user.mail_signature is None,
        "show_signature": user.kind != "patient",
    }
    return render(request, "messaging/compose_preferences.html", context)
