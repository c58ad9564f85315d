"""The operator admins' journal search and CSV export (thin: policy, form, selector, service)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.audit import selectors, services
from apps.audit.forms import JournalFilterForm
from apps.audit.models import AuditEvent
from apps.audit.policies import access_journal

CSV_HEADER = [
    "numéro", "date", "acteur", "n° acteur", "BAL", "n° BAL", "action", "résultat", "type de cible",
    "cible", "adresse IP", "navigateur", "détails", "n° de scellement", "sceau",
]  # fmt: skip


def _form(request: HttpRequest) -> JournalFilterForm:
    return JournalFilterForm(request.GET, actions=selectors.list_actions())


def _query_without(request: HttpRequest, *names: str) -> QueryDict:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query


@login_required
@require_GET
@vary_on_headers("HX-Request")
def event_list(request: HttpRequest) -> HttpResponse:
    access_journal(request.user)
    form = _form(request)
    page = selectors.EventPage([], None)
    if form.is_valid():
        before_id = form.cleaned_data["before"]
        page = selectors.search_events(form.filters(), before_id=before_id)
        shown = len(page.events)
        services.do_note_journal_search(
            request.user, form.filters().as_details(), shown=shown, before_id=before_id
        )
    next_query = _query_without(request, "before")
    if page.next_before is not None:
        next_query["before"] = str(page.next_before)
    context = {
        "form": form,
        "page": page,
        "next_query": next_query.urlencode(),
        "filter_query": _query_without(request, "before").urlencode(),
    }
    template = "audit/_event_rows.html" if request.htmx else "audit/event_list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Labels and user agents come from outside: never let a spreadsheet read them as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(event: AuditEvent) -> list[str]:
    values = [
        event.id, timezone.localtime(event.occurred_at).isoformat(), event.actor_label, event.actor_id,
        event.mailbox_label, event.mailbox_id, event.action, event.get_outcome_display(), event.target_type,
        event.target_id, event.ip, event.user_agent,
        json.dumps(event.details, ensure_ascii=False, sort_keys=True), event.seal_seq, event.seal,
    ]  # fmt: skip
    return [_cell(value) for value in values]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_HEADER)  # BOM: spreadsheets then read the accents right
    for event in events:
        yield writer.writerow(_csv_row(event))


@login_required
@require_GET
def event_export(request: HttpRequest) -> HttpResponseBase:
    access_journal(request.user)
    form = _form(request)
    if not form.is_valid():
        return render(
            request,
            "audit/event_list.html",
            {"form": form, "page": selectors.EventPage([], None)},
            status=400,
        )
    filters = form.filters()
    services.do_note_journal_export(request.user, filters.as_details(), max_rows=selectors.EXPORT_MAX_ROWS)
    response = StreamingHttpResponse(_csv_lines(selectors.export_events(filters)), content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="journal-{stamp}.csv"'
    return response
