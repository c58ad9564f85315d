"""The person's application passwords (mail clients, practice software sending over SMTP submission)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.app_passwords import do_create_app_password, do_revoke_app_password
from apps.accounts.models import AppPassword, UserKind


def _allowed(request: HttpRequest) -> None:
    # Patients use the portal only; SMTP submission is for professionals and their staff.
    if getattr(request.user, "kind", "") == UserKind.PATIENT:
        raise Http404


@login_required
def app_passwords(request: HttpRequest) -> HttpResponse:
    _allowed(request)
    created_secret = ""
    if request.method == "POST":
        try:
            _row, created_secret = do_create_app_password(request.user, label=request.POST.get("label", ""))
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
    rows = AppPassword.objects.filter(user_id=request.user.pk or 0, revoked_at__isnull=True)
    context = {
        "rows": rows,
        "created_secret": created_secret,
        "submission_host": getattr(settings, "SUBMISSION_PUBLIC_HOST", "")
        or request.get_host().split(":")[0],
        "submission_port": getattr(settings, "SUBMISSION_PUBLIC_PORT", 587),
    }
    return render(request, "accounts/app_passwords.html", context)


@require_POST
@login_required
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    _allowed(request)
    row = AppPassword.objects.filter(pk=pk, user_id=request.user.pk or 0, revoked_at__isnull=True).first()
    if row is None:
        raise Http404
    do_revoke_app_password(row, acting_user=request.user)
    messages.success(
        request, f"Le mot de passe « {row.label} » est révoqué : ce logiciel ne peut plus envoyer."
    )
    return redirect("accounts:app-passwords")
