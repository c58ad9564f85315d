"""Patients stay in their portal: the professional pages are not theirs to reach, even by typing a URL.

The data behind those pages is already refused to patients by each app's own policy (a patient is member
of no professional BAL, the annuaire answers 403, the journal and administration 404). This gate adds a
plain, safe default for any page added later: a signed-in patient reaches only the portal (namespace
"patients"), the account pages (allauth's un-namespaced URLs and "accounts": login, logout, second factor),
the home page and the health check. The annuaire keeps its own 403 answer (its JSON errors are tested).
Anything else sends them to the portal (GET) or answers 403 (other methods, htmx, JSON).
Professionals never reach the portal: its views answer 404 to any non-patient (apps.patients.portal).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect

from apps.accounts.middleware import ViewGateMiddleware
from apps.patients.policies import is_patient

PATIENT_NAMESPACES = frozenset({"patients", "accounts", "annuaire"})


def is_allowed_for_patient(namespace: str) -> bool:
    # Un-namespaced names are the home page, the health check and allauth's account and MFA pages.
    return not namespace or namespace.split(":")[0] in PATIENT_NAMESPACES


class PatientSeparationMiddleware(ViewGateMiddleware):
    def gate(self, request: HttpRequest) -> HttpResponse | None:
        if not is_patient(request.user):
            return None
        match = request.resolver_match
        if match is None or is_allowed_for_patient(match.namespace):
            return None
        if (
            request.method != "GET"
            or request.headers.get("HX-Request")
            or "json" in request.headers.get("Accept", "")
        ):
            return HttpResponseForbidden("Page réservée aux professionnels de santé.")
        return redirect("patients:inbox")
