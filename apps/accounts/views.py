from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.selectors import has_strong_factor, unused_recovery_codes


@login_required
def mfa_required(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/mfa_required.html", {"has_factor": has_strong_factor(request.user)})


@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    if not has_strong_factor(request.user):
        return redirect("accounts:mfa-required")
    if request.method == "POST":
        if request.POST.get("saved") != "on":
            messages.error(request, "Cochez la case pour confirmer que vous avez enregistré vos codes de secours.")
        else:
            services.do_confirm_recovery_codes_saved(acting_user=request.user)
            messages.success(request, "Votre compte est sécurisé. Bienvenue !")
            return redirect("home")
    codes = services.do_ensure_recovery_codes(acting_user=request.user) or unused_recovery_codes(request.user)
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    services.do_logout_everywhere(acting_user=request.user)
    messages.success(request, "Vous avez été déconnecté de tous vos appareils.")
    return redirect("account_login")
