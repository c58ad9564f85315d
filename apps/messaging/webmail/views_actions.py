"""The webmail's writes from the reading side: flags, filing, Corbeille, folders and the work queue. Thin
views: access check, form input, one service call, back to where the person was (`next`, same site only)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.mailboxes.models import Mailbox
from apps.messaging.models import Folder, FolderRole, MessageCopy, QueueStatus
from apps.messaging.store.folders import system_folder
from apps.messaging.webmail import services as services_copies
from apps.messaging.webmail import workqueue as services_queue
from apps.messaging.webmail.views import copy_for, mailbox_for

MAX_BATCH = 500
DONE = {
    "read": "Marqué comme lu.",
    "unread": "Marqué comme non lu.",
    "flag": "Suivi activé.",
    "unflag": "Suivi retiré.",
    "trash": "Déplacé dans la corbeille.",
    "restore": "Restauré.",
    "archive": "Archivé.",
    "move": "Déplacé.",
    "take": "Attribué à vous.",
    "done": "Marqué comme traité.",
}
# Changing the state of a message for the whole team needs the right to write in the BAL; read marks are
# part of reading.
READ_ONLY_ACTIONS = {"read", "unread"}


def _back(request: HttpRequest, mailbox: Mailbox) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect("messaging:inbox", mailbox_id=mailbox.pk)


def _selected(request: HttpRequest, mailbox: Mailbox) -> list[MessageCopy]:
    copies = MessageCopy.objects.filter(mailbox=mailbox).select_related("mailbox", "message", "folder")
    whole = request.POST.get("tout_le_dossier", "")
    if whole.isdigit():  # « Sélectionner tout le dossier »: its most recent messages, one batch at a time
        return list(copies.filter(folder_id=int(whole)).order_by("-received_at", "-id")[:MAX_BATCH])
    ids = [raw for raw in request.POST.getlist("copies") if raw.isdigit()][:MAX_BATCH]
    return list(copies.filter(pk__in=ids))


def _target_folder(request: HttpRequest, mailbox: Mailbox, action: str) -> Folder:
    if action == "archive":
        return system_folder(mailbox.pk, FolderRole.ARCHIVE)
    raw = request.POST.get("folder", "")
    folder = Folder.objects.filter(mailbox=mailbox, pk=int(raw)).first() if raw.isdigit() else None
    if folder is None:
        raise ValidationError("Choisissez le dossier de destination.")
    return folder


def _apply(request: HttpRequest, mailbox: Mailbox, action: str, copies: list[MessageCopy]) -> None:
    user = request.user
    if action in ("read", "unread"):
        for copy in copies:
            services_copies.do_mark_read(copy, user=user, read=action == "read")
    elif action in ("flag", "unflag"):
        for copy in copies:
            services_copies.do_set_flag(copy, flagged=action == "flag", user=user)
    elif action == "trash":
        services_copies.do_trash_copies(copies, user=user)
    elif action == "restore":
        services_copies.do_restore_copies(copies, user=user)
    elif action in ("archive", "move"):
        services_copies.do_move_copies(copies, folder=_target_folder(request, mailbox, action), user=user)
    elif action == "take":  # work queue: "Je m'en occupe" on the selection
        for copy in copies:
            services_queue.do_assign(copy, user, acting_user=user)
    elif action == "done":
        for copy in copies:
            services_queue.do_set_queue_status(copy, QueueStatus.DONE, acting_user=user)
    else:
        raise ValidationError("Action inconnue.")


@login_required
@require_POST
def copies_update(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    action = request.POST.get("action", "")
    mailbox = mailbox_for(request, mailbox_id, for_write=action not in READ_ONLY_ACTIONS)
    copies = _selected(request, mailbox)
    if not copies:
        messages.warning(request, "Sélectionnez au moins un message.")
        return _back(request, mailbox)
    try:
        _apply(request, mailbox, action, copies)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request, mailbox)
    messages.success(
        request, DONE[action] if len(copies) == 1 else f"{len(copies)} messages : {DONE[action]}"
    )
    return _back(request, mailbox)


@login_required
@require_POST
def trash_empty(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = mailbox_for(request, mailbox_id, for_write=True)
    count = services_copies.do_empty_trash(mailbox, user=request.user)
    messages.success(
        request,
        f"Corbeille vidée ({count} message{'s' if count > 1 else ''} supprimé{'s' if count > 1 else ''}).",
    )
    return redirect(
        "messaging:folder", mailbox_id=mailbox.pk, folder_id=system_folder(mailbox.pk, FolderRole.TRASH).pk
    )


@login_required
@require_POST
def folder_create(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = mailbox_for(request, mailbox_id, for_write=True)
    try:
        folder = services_copies.do_create_folder(mailbox, request.POST.get("name", ""), user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request, mailbox)
    messages.success(request, f"Dossier « {folder.name} » créé.")
    return redirect("messaging:folder", mailbox_id=mailbox.pk, folder_id=folder.pk)


def _custom_folder(request: HttpRequest, mailbox_id: int, folder_id: int) -> Folder:
    mailbox = mailbox_for(request, mailbox_id, for_write=True)
    folder = Folder.objects.filter(mailbox=mailbox, pk=folder_id).select_related("mailbox").first()
    if folder is None:
        raise Http404
    return folder


@login_required
@require_POST
def folder_rename(request: HttpRequest, mailbox_id: int, folder_id: int) -> HttpResponse:
    folder = _custom_folder(request, mailbox_id, folder_id)
    try:
        services_copies.do_rename_folder(folder, request.POST.get("name", ""), user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Dossier renommé en « {folder.name} ».")
    return redirect("messaging:folder", mailbox_id=mailbox_id, folder_id=folder.pk)


@login_required
@require_POST
def folder_delete(request: HttpRequest, mailbox_id: int, folder_id: int) -> HttpResponse:
    folder = _custom_folder(request, mailbox_id, folder_id)
    try:
        services_copies.do_delete_folder(folder, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("messaging:folder", mailbox_id=mailbox_id, folder_id=folder.pk)
    messages.success(request, "Dossier supprimé ; ses messages sont dans la corbeille.")
    return redirect("messaging:inbox", mailbox_id=mailbox_id)


def _detail(copy: MessageCopy) -> HttpResponseRedirect:
    url = reverse("messaging:message-detail", args=[copy.mailbox_id, copy.pk])
    return HttpResponseRedirect(url)


@login_required
@require_POST
def message_assign(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    copy = copy_for(request, mailbox_id, copy_id, for_write=True)
    raw = request.POST.get("assignee", "")
    assignee: Any = None
    if raw == "moi":
        assignee = request.user
    elif raw.isdigit():
        assignee = get_user_model().objects.filter(pk=int(raw)).first()
    try:
        services_queue.do_assign(copy, assignee, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        label = (assignee.get_full_name() or assignee.email) if assignee else "personne"
        messages.success(request, f"Message attribué à {label}.")
    return _detail(copy)


@login_required
@require_POST
def message_status(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    copy = copy_for(request, mailbox_id, copy_id, for_write=True)
    try:
        services_queue.do_set_queue_status(copy, request.POST.get("status", ""), acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Statut : {copy.get_queue_status_display()}.")
    return _detail(copy)


@login_required
@require_POST
def note_add(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    copy = copy_for(request, mailbox_id, copy_id, for_write=True)
    try:
        services_queue.do_add_note(copy, request.POST.get("note", ""), acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Note interne ajoutée (visible de l'équipe seulement).")
    return _detail(copy)
