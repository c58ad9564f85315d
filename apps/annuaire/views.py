"""Directory page and the composer's autocomplete (JSON, or an htmx fragment)."""

from __future__ import annotations

import time
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from apps.annuaire.categories import PROFESSION_CHOICES
from apps.annuaire.models import BalKind
from apps.annuaire.policies import can_search_directory, check_search_rate
from apps.annuaire.search import SearchCriteria, autocomplete, search_directory
from apps.annuaire.services import do_log_directory_query


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


RATE_LIMITED = (
    "Vous avez effectué trop de recherches dans l'annuaire en peu de temps. Merci de patienter une minute."
)
FORBIDDEN = "La recherche dans l'annuaire est réservée aux professionnels et à leurs équipes."


def _throttled(request: HttpRequest) -> bool:
    return not check_search_rate(request.user)


@login_required
@require_GET
def directory(request: HtmxHttpRequest) -> HttpResponse:
    started = time.perf_counter()
    if not can_search_directory(request.user):
        raise PermissionDenied(FORBIDDEN)
    criteria = SearchCriteria.from_mapping(request.GET)
    page_number = _page_number(request)
    context = {
        "criteria": criteria,
        "kinds": BalKind.choices,
        "professions": PROFESSION_CHOICES,
        "page": None,
    }
    status = 200
    if not criteria.is_empty():
        if _throttled(request):
            context["error"], status = RATE_LIMITED, 429
        else:
            do_log_directory_query(acting_user=request.user, criteria=criteria.as_details(), via="page")
            context["page"] = search_directory(
                criteria, page=page_number, page_size=settings.ANNUAIRE_PAGE_SIZE
            )
            context["querystring"] = _querystring(criteria)
    template = "annuaire/_results.html" if request.htmx else "annuaire/search.html"
    response = render(request, template, context, status=status)
    response["Server-Timing"] = _server_timing(started)
    return response


def _server_timing(started: float) -> str:
    return f"app;dur={(time.perf_counter() - started) * 1000:.2f}"


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _querystring(criteria: SearchCriteria) -> str:
    from urllib.parse import urlencode

    return urlencode(criteria.as_details())


def _json_access(view):
    """Anonymous callers get a 403 JSON answer rather than a login redirect (it is called by scripts)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not can_search_directory(request.user):
            return JsonResponse({"error": FORBIDDEN}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@_json_access
def suggestions(request: HtmxHttpRequest) -> HttpResponse:
    started = time.perf_counter()
    text = request.GET.get("q", "").strip()[:120]
    if _throttled(request):
        if request.htmx:
            return render(request, "annuaire/_suggestions.html", {"error": RATE_LIMITED}, status=429)
        return JsonResponse({"error": RATE_LIMITED}, status=429)
    results = autocomplete(text) if len(text) >= 2 else []
    if text:
        do_log_directory_query(acting_user=request.user, criteria={"q": text}, via="autocomplete")
    if request.htmx:
        response = render(request, "annuaire/_suggestions.html", {"results": results, "q": text})
    else:
        response = JsonResponse({"results": [_as_json(bal) for bal in results]})
    # Server time of the whole view, read by bench/bench_annuaire.py and visible in the browser's devtools.
    response["Server-Timing"] = _server_timing(started)
    return response


def _as_json(bal) -> dict[str, str]:
    return {
        "address": bal.address,
        "name": bal.display_name,
        "profession": bal.profession_label,
        "specialty": bal.specialty_label,
        "structure": bal.structure_name,
        "service": bal.service,
        "town": bal.town,
        "postcode": bal.postcode,
        "kind": bal.kind,
        "kind_label": bal.get_kind_display(),
    }
