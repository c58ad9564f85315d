"""No health data before a second factor: professionals, staff and admins are held at enrolment.

Until a user of those kinds has a TOTP or WebAuthn authenticator *and* has confirmed saving the recovery
codes, every URL except the enrolment pages, reauthentication, logout, static files and the health check
redirects to the next enrolment step (htmx/JSON requests get 403). The Django admin is behind the same
gate. A session opened through Pro Santé Connect (CPS/e-CPS, see selectors.STRONG_AUTH_SESSION_KEY) is
already strong.

The check runs in process_view, on the resolved URL *name*, so that a new app's URLs are gated by default:
only the names listed here are reachable, whatever the path they are mounted at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect

from apps.accounts.selectors import is_confirming_codes, is_held_at_enrolment, next_enrolment_url_name

# allauth asks for the password again (account_reauthenticate) before adding a factor when the login is older
# than ACCOUNT_REAUTHENTICATION_TIMEOUT, so that page must stay reachable during enrolment.
ENROLMENT_URL_NAMES = frozenset(
    {
        "accounts:mfa-required",
        "accounts:recovery-codes",
        "accounts:recovery-codes-download",
        "mfa_activate_totp",
        "mfa_add_webauthn",
        "account_reauthenticate",
        "account_logout",
        "healthz",
    }
)
_OPEN_PREFIXES = ("/static/", "/healthz")
# Where allauth goes once a factor is added (its recovery-codes page, or the security page).
_AFTER_FACTOR = frozenset({"mfa_view_recovery_codes", "mfa_index"})


class ViewGateMiddleware:
    """A gate decided in process_view, on the resolved URL; static files and the health check always pass.

    Subclasses say in `gate` whether to answer instead of the view (a response) or let the view run (None).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if request.path.startswith(_OPEN_PREFIXES):
            return None
        return self.gate(request)

    def gate(self, request: HttpRequest) -> HttpResponse | None:
        # Each subclass is one gate; a subclass that forgot it must fail loudly, never let every view through.
        raise NotImplementedError(f"{type(self).__name__} must define gate()")


class MfaRequiredMiddleware(ViewGateMiddleware):
    def gate(self, request: HttpRequest) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.view_name in _AFTER_FACTOR and is_confirming_codes(request.user):
            # allauth sends a new factor to its own codes page; the enrolment's page shows the codes and asks
            # to confirm they are saved (patients too, whom the gate below does not hold).
            return redirect("accounts:recovery-codes")
        if not is_held_at_enrolment(request):
            return None
        if match is not None and match.view_name in ENROLMENT_URL_NAMES:
            return None
        if request.headers.get("HX-Request") or "application/json" in request.headers.get("Accept", ""):
            return HttpResponseForbidden("Second facteur requis.")
        return redirect(next_enrolment_url_name(request.user))  # type: ignore[arg-type]
