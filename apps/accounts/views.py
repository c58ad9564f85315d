"""First-login journey: "Sécurisez votre compte" -> allauth TOTP/WebAuthn -> recovery codes -> home."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.models import User
from apps.accounts.selectors import has_strong_factor, unused_recovery_codes


@login_required
def mfa_required(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if user.recovery_codes_saved_at is not None and has_strong_factor(user):
        return redirect("landing")
    return render(request, "accounts/mfa_required.html", {"has_factor": has_strong_factor(user)})


def _enrolment_codes(request: HttpRequest) -> list[str] | HttpResponse:
    """Codes to show during enrolment, or where to go instead (no factor yet, or enrolment already done)."""
    user: User = request.user  # type: ignore[assignment]
    if not has_strong_factor(user):
        return redirect("accounts:mfa-required")
    if user.recovery_codes_saved_at is not None:
        # After enrolment the codes are only shown by allauth's pages, which ask for reauthentication.
        return redirect("mfa_view_recovery_codes")
    return services.do_ensure_recovery_codes(acting_user=user) or unused_recovery_codes(user)


@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    codes = _enrolment_codes(request)
    if isinstance(codes, HttpResponse):
        return codes
    if request.method == "POST":
        if request.POST.get("saved") != "on":
            messages.error(
                request, "Cochez la case pour confirmer que vous avez enregistré vos codes de secours."
            )
        else:
            services.do_confirm_recovery_codes_saved(acting_user=request.user)  # type: ignore[arg-type]
            messages.success(request, "Votre compte est sécurisé. Bienvenue !")
            return redirect("landing")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
def recovery_codes_download(request: HttpRequest) -> HttpResponse:
    codes = _enrolment_codes(request)
    if isinstance(codes, HttpResponse):
        return codes
    text = render(
        request,
        "accounts/recovery_codes.txt",
        {"codes": codes, "generated_at": timezone.now()},
        content_type="text/plain; charset=utf-8",
    )
    text["Content-Disposition"] = 'attachment; filename="codes-de-secours-mssante.txt"'
    return text


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    services.do_logout_everywhere(acting_user=request.user)  # type: ignore[arg-type]
    # The epoch bump already invalidates this session too; logging out now ends it cleanly (and journals it).
    logout(request)
    messages.success(request, "Vous avez été déconnecté de tous vos appareils.")
    return redirect("account_login")
