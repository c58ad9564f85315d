"""Patient portal, the rest of the space: write to a pharmacy, documents, transparency, settings."""

from __future__ import annotations

import functools
import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.crypto.envelope import DecryptionError
from apps.patients import selectors
from apps.patients.forms import (
    ConfirmForm,
    DocumentUploadForm,
    NotificationsForm,
    PharmacyMessageForm,
    PharmacySearchForm,
)
from apps.patients.models import PatientProfile
from apps.patients.policies import access_document
from apps.patients.portal import patient_view
from apps.patients.services import do_activate_profile, do_close_profile, do_set_notifications
from apps.patients.services_documents import (
    DocumentRefused,
    do_add_document,
    do_delete_document,
    document_names,
    open_document,
)
from apps.patients.services_messages import do_write_to_pharmacy
from apps.patients.views import send_or_show_refusal


# --- pharmacies ---------------------------------------------------------------------------------------------
def _pharmacy_page(
    request: HttpRequest, profile: PatientProfile, form: PharmacyMessageForm | None, status: int = 200
) -> HttpResponse:
    search = PharmacySearchForm(request.GET or None)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    chosen = selectors.get_pharmacy(
        request.GET.get("pharmacie") or (form.data.get("pharmacy") if form else None)
    )
    context = {
        "profile": profile,
        "search": search,
        "query": query,
        "pharmacies": selectors.search_pharmacies(query),
        "chosen": chosen,
        "chosen_name": selectors.names_for([chosen.address])[chosen.address] if chosen else "",
        "form": form or (PharmacyMessageForm(initial={"pharmacy": chosen.pk}) if chosen else None),
    }
    return render(request, "patients/pharmacies.html", context, status=status)


@require_GET
@patient_view
def pharmacies(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    return _pharmacy_page(request, profile, None)


@require_POST
@patient_view
def pharmacy_write(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    form = PharmacyMessageForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        send = functools.partial(
            do_write_to_pharmacy,
            profile,
            data["pharmacy"],
            subject=data["subject"],
            text=data["text"],
            files=data["pieces"],
            acting_user=request.user,
        )
        if send_or_show_refusal(request, send):
            messages.success(request, "Votre message a été envoyé à la pharmacie.")
            return redirect(reverse("patients:inbox") + "?dossier=envoyes")
    return _pharmacy_page(request, profile, form, status=400)


# --- documents ----------------------------------------------------------------------------------------------
def _documents_page(
    request: HttpRequest, profile: PatientProfile, form: DocumentUploadForm, status: int = 200
) -> HttpResponse:
    items = list(selectors.list_documents(profile))
    names = document_names(items)
    rows = [{"document": one, "name": names[one.pk]} for one in items]
    return render(
        request, "patients/documents.html", {"profile": profile, "rows": rows, "form": form}, status=status
    )


@require_GET
@patient_view
def documents(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    return _documents_page(request, profile, DocumentUploadForm())


@require_POST
@patient_view
def document_upload(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            do_add_document(
                profile,
                filename=upload.name,
                content_type=upload.content_type or "",
                chunks=upload.chunks(),
                category=form.cleaned_data["category"],
                acting_user=request.user,
            )
        except DocumentRefused as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, "Le document a été ajouté à votre espace.")
            return redirect("patients:documents")
    return _documents_page(request, profile, form, status=400)


@require_GET
@patient_view
def document_download(
    request: HttpRequest, profile: PatientProfile, document_id: uuid.UUID
) -> HttpResponseBase:
    document = access_document(profile, document_id)
    try:
        name, chunks = open_document(document)
    except DecryptionError:
        raise Http404 from None
    from django.utils.http import content_disposition_header

    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response.headers["Content-Length"] = str(document.size)
    response.headers["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@require_POST
@patient_view
def document_delete(request: HttpRequest, profile: PatientProfile, document_id: uuid.UUID) -> HttpResponse:
    do_delete_document(access_document(profile, document_id), acting_user=request.user)
    messages.success(request, "Le document a été supprimé de votre espace.")
    return redirect("patients:documents")


# --- transparency -------------------------------------------------------------------------------------------
@require_GET
@patient_view
def transparency(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    exchanges = selectors.list_exchanges_about(profile)
    return render(request, "patients/transparency.html", {"profile": profile, "exchanges": exchanges})


# --- settings -----------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@patient_view
def settings_page(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    initial = {"notify_by_email": profile.notify_by_email, "outside_email": profile.user.outside_email}
    form = NotificationsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        do_set_notifications(
            profile,
            notify_by_email=form.cleaned_data["notify_by_email"],
            outside_email=form.cleaned_data["outside_email"] or "",
            acting_user=request.user,
        )
        messages.success(request, "Vos préférences sont enregistrées.")
        return redirect("patients:settings")
    context = {"profile": profile, "form": form, "close_form": ConfirmForm()}
    return render(request, "patients/settings.html", context, status=400 if form.errors else 200)


@require_POST
@patient_view
def activate(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    try:
        do_activate_profile(profile, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "Votre messagerie est activée : vous pouvez répondre et écrire à une pharmacie."
        )
    return redirect("patients:settings")


@require_POST
@patient_view
def close(request: HttpRequest, profile: PatientProfile) -> HttpResponse:
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Cochez la case pour confirmer la fermeture de votre messagerie.")
        return redirect("patients:settings")
    do_close_profile(profile, acting_user=request.user)
    messages.success(request, "Votre messagerie est fermée. Vos documents restent consultables.")
    return redirect("patients:settings")
