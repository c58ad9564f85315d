"""No health data before a second factor: professionals, staff and admins are held at enrolment.

Until a user of those kinds has a TOTP or WebAuthn authenticator *and* has confirmed saving the recovery codes,
every URL except the enrolment pages, logout, static files and the health check redirects to enrolment (and
htmx/JSON requests get 403). The Django admin is behind the same gate.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.selectors import has_completed_mfa_enrolment

_ALLOWED_PREFIXES = ("/static/", "/healthz", "/comptes/2fa/", "/comptes/logout/", "/compte/second-facteur/")


class MfaRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.requires_mfa
            and not request.path.startswith(_ALLOWED_PREFIXES)
            and not has_completed_mfa_enrolment(user)
        ):
            if request.headers.get("HX-Request") or request.headers.get("Accept", "").startswith("application/json"):
                return HttpResponseForbidden("Second facteur requis.")
            return redirect(reverse("accounts:mfa-required"))
        return self.get_response(request)
