"""The portal's gate: who reaches /patient/ and how they log in.

- Only patient accounts reach the portal; anyone else gets a 404 (professionals have no business there).
- A patient must have a second factor (TOTP or WebAuthn, with recovery codes saved) before reading anything:
  the issue requires it for patients too, while the platform-wide gate (apps.accounts.middleware) only
  holds professionals, staff and admins. Until then every portal page leads to « Sécurisez votre espace ».
- The portal has its own login page (same allauth flow, lockout and MFA stage) that lands in the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.views import LoginView
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.selectors import has_completed_mfa_enrolment, is_confirming_codes, is_psc_session
from apps.patients.models import PatientProfile
from apps.patients.policies import is_patient

PORTAL_LOGIN = "patients:login"


def is_secured(request: HttpRequest) -> bool:
    return is_psc_session(request) or has_completed_mfa_enrolment(request.user)  # type: ignore[arg-type]


def patient_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Signed-in patient with a second factor and a profile; the view receives the profile."""

    @wraps(view)
    @login_required(login_url=PORTAL_LOGIN)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_patient(request.user):
            raise Http404
        if not is_secured(request):
            return redirect("patients:secure")
        profiles = PatientProfile.objects.select_related("mailbox", "user")
        profile = profiles.filter(user_id=request.user.pk or 0).first()
        if profile is None:
            return render(request, "patients/no_profile.html", status=404)
        return view(request, profile, *args, **kwargs)

    return wrapped


class PortalLoginView(LoginView):
    template_name = "patients/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["next_url"] = self.request.GET.get("next") or reverse("patients:inbox")
        return context


@login_required(login_url=PORTAL_LOGIN)
def secure(request: HttpRequest) -> HttpResponse:
    if not is_patient(request.user):
        raise Http404
    if is_secured(request):
        return redirect("patients:inbox")
    if is_confirming_codes(request.user):  # factor enrolled: the one step left is saving the codes
        return redirect("accounts:recovery-codes")
    return render(request, "patients/secure.html")
