"""The liste blanche page for operator administrators (others get a 404: they need not know it exists)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from apps.trust import selectors
from apps.trust.forms import DomainSearchForm
from apps.trust.models import ListeBlancheRefresh
from apps.trust.policies import can_manage_liste_blanche
from apps.trust.services import do_request_liste_blanche_refresh

PAGE_SIZE = 50
# Two missed daily refreshes in a row deserve the admin's attention.
STALE_AFTER = dt.timedelta(days=2, hours=12)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _stale_days(last_applied: ListeBlancheRefresh | None) -> int:
    """Days since the list was last applied when that is more than the daily refresh allows, else 0."""
    if last_applied is None:
        return 0
    age = timezone.now() - (last_applied.finished_at or last_applied.started_at)
    return age.days if age > STALE_AFTER else 0


def _require_admin(request: HttpRequest) -> None:
    if not can_manage_liste_blanche(request.user):
        raise Http404


@login_required
def liste_blanche(request: HtmxHttpRequest) -> HttpResponse:
    _require_admin(request)
    form = DomainSearchForm(request.GET or None)
    query, inactive = "", False
    if form.is_valid():
        query, inactive = form.cleaned_data["q"], form.cleaned_data["inactifs"]
    page = Paginator(selectors.search_domains(query, include_inactive=inactive), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "query": query, "inactive": inactive, "page": page}
    if request.htmx:
        return render(request, "trust/_domain_table.html", context)
    last_applied = selectors.get_last_applied_refresh()
    context |= {
        "counts": selectors.get_counts(),
        "last_refresh": selectors.get_last_refresh(),
        "last_applied": last_applied,
        "stale_days": _stale_days(last_applied),
        "kept_previous": selectors.list_refreshes_kept_previous(),
        "recent": selectors.list_recent_refreshes(),
    }
    return render(request, "trust/liste_blanche.html", context)


@login_required
@require_POST
def liste_blanche_refresh(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    do_request_liste_blanche_refresh(acting_user=request.user)
    messages.success(
        request,
        "La mise à jour de la liste blanche a été demandée. Rechargez cette page dans quelques instants "
        "pour voir son résultat.",
    )
    return redirect("confiance:liste-blanche")
