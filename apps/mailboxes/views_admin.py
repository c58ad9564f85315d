"""Administration of BALs: operator admins everything, structure admins their structures' BALs, the
responsible professional and `manage` members their BAL. Whoever may not administer a BAL gets a 404."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from apps.audit.selectors import list_mailbox_events
from apps.mailboxes import selectors, services, services_members
from apps.mailboxes.bulk import do_bulk_create_from_csv
from apps.mailboxes.exports import export_fhir_patch_parameters
from apps.mailboxes.forms import (
    AdminSearchForm,
    ApplicativeForm,
    CabinetForm,
    CredentialForm,
    DelegateForm,
    EditForm,
    ImportForm,
    MemberAddForm,
    MemberRoleForm,
    NominativeForm,
    OrganisationalForm,
    SuspendForm,
    TransferForm,
    add_service_errors,
)
from apps.mailboxes.labels import action_label
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import (
    access_administration,
    access_mailbox,
    can_use_administration,
    is_operator_admin,
    post_after_access,
)
from apps.mailboxes.services import Address

PAGE_SIZE = 50
CREATE_FORMS: dict[str, Any] = {
    "nominative": NominativeForm,
    "organisationnelle": OrganisationalForm,
    "cabinet": CabinetForm,
    "applicative": ApplicativeForm,
}
OPERATOR_ONLY_KINDS = {"nominative", "cabinet"}
KIND_TITLES = {
    "nominative": "Nouvelle BAL nominative",
    "organisationnelle": "Nouvelle BAL organisationnelle",
    "cabinet": "Nouvelle BAL de cabinet",
    "applicative": "Nouvelle BAL applicative",
}


def _manage(request: HttpRequest, mailbox_id: int) -> Mailbox:
    return access_mailbox(request.user, mailbox_id, for_manage=True)


def _search(request: HttpRequest) -> tuple[AdminSearchForm, Any]:
    form = AdminSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    mailboxes = selectors.search_admin_mailboxes(
        request.user,
        query=filters.get("q", ""),
        kind=filters.get("kind", ""),
        status=filters.get("status", ""),
    )
    return form, mailboxes


@login_required
def admin_list(request: HttpRequest) -> HttpResponse:
    access_administration(request.user)
    form, mailboxes = _search(request)
    page = Paginator(mailboxes, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "is_operator_admin": is_operator_admin(request.user),
        "query": query,
    }
    return render(request, "mailboxes/admin/list.html", context)


def _create(kind: str, data: dict[str, Any], user: Any) -> tuple[Mailbox, str]:
    address = Address(data["local_part"], data["domain"])
    common = {"address": address, "display_name": data["display_name"], "liste_rouge": data["liste_rouge"]}
    if kind == "nominative":
        mailbox = services.do_create_nominative_mailbox(owner=data["owner"], acting_user=user, **common)
        return mailbox, ""
    if kind == "applicative":
        return services.do_create_applicative_mailbox(
            structure=data["structure"],
            responsible=data["responsible"],
            service=data["service"],
            credential_name=data["credential_name"],
            acting_user=user,
            **common,
        )
    cabinet = kind == "cabinet"
    officine = data.get("officine", "")
    mailbox = services.do_create_organisational_mailbox(
        structure=data.get("structure"),
        is_cabinet=cabinet,
        practitioners=data.get("practitioners"),
        responsible=data["responsible"],
        head_agreement_by=data["head_agreement_by"],
        head_agreement_reference=data.get("head_agreement_reference", ""),
        service=data.get("service", ""),
        is_officine=(officine == "oui") if officine else None,
        acting_user=user,
        **common,
    )
    return mailbox, ""


@login_required
def admin_create(request: HttpRequest, kind: str) -> HttpResponse:
    access_administration(request.user)
    if kind not in CREATE_FORMS or (kind in OPERATOR_ONLY_KINDS and not is_operator_admin(request.user)):
        raise Http404
    form = CREATE_FORMS[kind](request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox, secret = _create(kind, form.cleaned_data, request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if secret:
                return render(
                    request, "mailboxes/admin/credential_created.html", {"mailbox": mailbox, "secret": secret}
                )
            messages.success(request, f"La BAL {mailbox.address} a été créée.")
            return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)
    return render(
        request, "mailboxes/admin/create.html", {"form": form, "kind": kind, "title": KIND_TITLES[kind]}
    )


def _detail_context(request: HttpRequest, mailbox: Mailbox, **extra: Any) -> dict[str, Any]:
    return {
        "mailbox": mailbox,
        "members": selectors.list_members(mailbox) if mailbox.kind == MailboxKind.ORGANISATIONAL else [],
        "credentials": selectors.list_credentials(mailbox) if mailbox.kind == MailboxKind.APPLICATIVE else [],
        "member_form": MemberAddForm(),
        "role_choices": MemberRoleForm().fields["role"].choices,  # type: ignore[attr-defined]
        "credential_form": CredentialForm(),
        "delegates": (
            mailbox.validation_delegates.select_related("user").order_by("added_at")
            if mailbox.kind == MailboxKind.APPLICATIVE
            else []
        ),
        "can_use_administration": can_use_administration(request.user),
        "recent_events": [
            (e, action_label(e.action, actor_label=e.actor_label))
            for e in list_mailbox_events(mailbox.pk, limit=20).events
        ],
        **extra,
    }


@login_required
def admin_detail(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    return render(request, "mailboxes/admin/detail.html", _detail_context(request, mailbox))


@login_required
def admin_edit(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    initial = {name: getattr(mailbox, name) for name in services.EDITABLE_FIELDS}
    form = EditForm(request.POST or None, initial=initial, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        try:
            services.do_update_mailbox(mailbox, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Les modifications ont été enregistrées.")
            return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)
    return render(request, "mailboxes/admin/edit.html", {"mailbox": mailbox, "form": form})


@login_required
def admin_suspend(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    form = SuspendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.do_suspend_mailbox(mailbox, reason=form.cleaned_data["reason"], acting_user=request.user)
        messages.success(
            request, f"La BAL {mailbox.address} est suspendue : ses utilisateurs n'y ont plus accès."
        )
        return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)
    return render(
        request, "mailboxes/admin/confirm.html", {"mailbox": mailbox, "form": form, "action": "suspend"}
    )


@login_required
@post_after_access(for_manage=True)
def admin_reactivate(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    services.do_reactivate_mailbox(mailbox, acting_user=request.user)
    messages.success(request, f"La BAL {mailbox.address} est réactivée.")
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
def admin_delete(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    if request.method == "POST":
        address = mailbox.address
        services.do_delete_mailbox(mailbox, acting_user=request.user)
        messages.success(request, f"La BAL {address} a été supprimée. Son journal est conservé.")
        return redirect(
            "mailboxes:admin-list" if can_use_administration(request.user) else "mailboxes:mailbox-list"
        )
    return render(request, "mailboxes/admin/confirm.html", {"mailbox": mailbox, "action": "delete"})


@login_required
@post_after_access(for_manage=True)
def admin_liste_rouge(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    hide = request.POST.get("liste_rouge") == "1"
    try:
        services.do_set_liste_rouge(mailbox, liste_rouge=hide, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "BAL retirée de l'annuaire (liste rouge)." if hide else "BAL publiée dans l'annuaire."
        )
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
def admin_transfer(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    form = TransferForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.do_transfer_responsibility(
                mailbox, new_responsible=form.cleaned_data["responsible"], acting_user=request.user
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "La responsabilité de la BAL a été transférée.")
            return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)
    return render(request, "mailboxes/admin/transfer.html", {"mailbox": mailbox, "form": form})


def _members_response(request: HttpRequest, mailbox: Mailbox, **extra: Any) -> HttpResponse:
    if getattr(request, "htmx", False):
        return render(request, "mailboxes/admin/_members.html", _detail_context(request, mailbox, **extra))
    if extra.get("member_form") is not None and extra["member_form"].errors:
        return render(request, "mailboxes/admin/detail.html", _detail_context(request, mailbox, **extra))
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
@post_after_access(for_manage=True)
def member_add(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            services_members.do_add_member(
                mailbox,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['user'].get_full_name()} est membre de la BAL.")
            return _members_response(request, mailbox)
    return _members_response(request, mailbox, member_form=form)


@login_required
@post_after_access(for_manage=True)
def member_remove(request: HttpRequest, mailbox_id: int, membership_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    membership = get_object_or_404(mailbox.memberships.select_related("user"), pk=membership_id)
    services_members.do_remove_member(membership, acting_user=request.user)
    messages.success(request, f"{membership.user.get_full_name()} n'est plus membre de la BAL.")
    return _members_response(request, mailbox)


@login_required
@post_after_access(for_manage=True)
def member_role(request: HttpRequest, mailbox_id: int, membership_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    membership = get_object_or_404(mailbox.memberships, pk=membership_id)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        services_members.do_change_member_role(
            membership, role=form.cleaned_data["role"], acting_user=request.user
        )
        messages.success(request, "Le rôle a été modifié.")
    return _members_response(request, mailbox)


@login_required
@post_after_access(for_manage=True)
def credential_create(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    form = CredentialForm(request.POST)
    if mailbox.kind != MailboxKind.APPLICATIVE or not form.is_valid():
        raise Http404
    _credential, secret = services_members.do_create_credential(
        mailbox, name=form.cleaned_data["name"], acting_user=request.user
    )
    return render(request, "mailboxes/admin/credential_created.html", {"mailbox": mailbox, "secret": secret})


@login_required
@post_after_access(for_manage=True)
def credential_revoke(request: HttpRequest, mailbox_id: int, credential_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    credential = get_object_or_404(mailbox.credentials, pk=credential_id)
    services_members.do_revoke_credential(credential, acting_user=request.user)
    messages.success(request, f"L'identifiant « {credential.name} » est révoqué.")
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
def admin_import(request: HttpRequest) -> HttpResponse:
    access_administration(request.user)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = do_bulk_create_from_csv(form.cleaned_data["file"], acting_user=request.user)
    return render(request, "mailboxes/admin/import.html", {"form": form, "report": report})


@login_required
def admin_export(request: HttpRequest) -> HttpResponse:
    access_administration(request.user)
    form, mailboxes = _search(request)
    mailboxes = mailboxes.select_related("responsible").prefetch_related("practitioners")
    bundle = export_fhir_patch_parameters(mailboxes)
    filters = {
        key: str(value) for key, value in (form.cleaned_data if form.is_valid() else {}).items() if value
    }
    services.do_record_fhir_export(acting_user=request.user, count=len(bundle["entry"]), filters=filters)
    response = HttpResponse(
        json.dumps(bundle, ensure_ascii=False, indent=2), content_type="application/fhir+json; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="bal-publication-annuaire.json"'
    return response


@login_required
@post_after_access(for_manage=True)
def delegate_add(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    form = DelegateForm(request.POST)
    if mailbox.kind != MailboxKind.APPLICATIVE:
        raise Http404
    if form.is_valid():
        try:
            services_members.do_add_validation_delegate(
                mailbox, user=form.cleaned_data["user"], acting_user=request.user
            )
            messages.success(request, "La personne peut désormais valider les envois de ce logiciel.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
@post_after_access(for_manage=True)
def delegate_remove(request: HttpRequest, mailbox_id: int, delegate_id: int) -> HttpResponse:
    mailbox = _manage(request, mailbox_id)
    delegate = get_object_or_404(mailbox.validation_delegates, pk=delegate_id)
    services_members.do_remove_validation_delegate(delegate, acting_user=request.user)
    messages.success(request, "Délégation retirée.")
    return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)


@login_required
def structure_imap(request: HttpRequest) -> HttpResponse:
    """IMAP access per structure: a structure admin (or an operator admin) closes every BAL of a structure
    to mail clients and practice software — the webmail stays open."""
    access_administration(request.user)
    structures = selectors.administered_structures(request.user)
    if request.method == "POST":
        structure = get_object_or_404(structures, pk=request.POST.get("structure", ""))
        allowed = request.POST.get("imap_allowed") == "1"
        try:
            services.do_set_structure_imap(structure, allowed=allowed, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"Accès IMAP ouvert pour les BAL de « {structure} »."
                if allowed
                else f"Accès IMAP fermé pour les BAL de « {structure} » : les sessions ouvertes sont "
                "fermées dans les secondes qui suivent.",
            )
        return redirect("mailboxes:structure-imap")
    page = Paginator(structures, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "mailboxes/admin/structure_imap.html", {"page": page})
