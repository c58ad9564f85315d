"""The certificate inventory and the per-operator TLS failures pages (operator admins; others get a 404)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.trust import selectors_certificates as selectors
from apps.trust.inventory import own_certificates
from apps.trust.policies import can_view_certificate_inventory
from apps.trust.revocation import stale_crls

PAGE_SIZE = 50


def _require_admin(request: HttpRequest) -> None:
    if not can_view_certificate_inventory(request.user):
        raise Http404


@login_required
def inventory(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    query = request.GET.get("q", "")[:200]
    page = Paginator(selectors.search_seen_certificates(query), PAGE_SIZE).get_page(request.GET.get("page"))
    own = own_certificates()
    context = {
        "own": own,
        "own_warnings": [certificate for certificate in own if certificate.warning is not None],
        "crls": selectors.list_crls(),
        "stale": stale_crls(),
        "query": query,
        "page": page,
        "seen": selectors.with_current_status(list(page.object_list)),
        "remotes": selectors.remotes_with_failures(),
    }
    return render(request, "trust/certificates.html", context)


@login_required
def remote_failures(request: HttpRequest, remote: str) -> HttpResponse:
    _require_admin(request)
    failures = selectors.failures_of(remote)
    if not failures:
        raise Http404
    return render(request, "trust/tls_failures.html", {"remote": remote, "failures": failures})
