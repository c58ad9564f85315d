"""Operations pages: a BAL's quota, the inactivity cycle (administrators, and the opposition link sent
outside the trust space), the monthly indicators (operator admins). Same rule as elsewhere: whoever may not
see a page gets a 404, never a 403."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from apps.mailboxes import indicators, lifecycle, quotas
from apps.mailboxes.models import LifecycleNotice, Mailbox
from apps.mailboxes.policies import (
    access_administration,
    access_mailbox,
    is_operator_admin,
    post_after_access,
)
from apps.mailboxes.selectors import search_admin_mailboxes

MIB = 1024 * 1024


class QuotaForm(forms.Form):
    quota_mib = forms.IntegerField(
        label="Quota (Mio)",
        required=False,
        min_value=1,
        help_text="Laissez vide pour appliquer le quota par défaut de la plateforme.",
        error_messages={"min_value": "Le quota doit être d'au moins 1 Mio."},
    )


@login_required
def quota_edit(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Managers of the BAL see its usage; operator and structure admins may also change its quota."""
    mailbox = access_mailbox(request.user, mailbox_id, for_manage=True)
    default = quotas.quota_of(Mailbox(quota_bytes=None))
    context = {"mailbox": mailbox, "default": default, "form": None}
    if not quotas.can_set_mailbox_quota(request.user, mailbox):
        return render(request, "mailboxes/quota_edit.html", context)
    initial = {"quota_mib": mailbox.quota_bytes // MIB if mailbox.quota_bytes else None}
    form = QuotaForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        mib = form.cleaned_data["quota_mib"]
        try:
            quotas.do_set_mailbox_quota(
                mailbox, quota_bytes=mib * MIB if mib else None, acting_user=request.user
            )
        except ValidationError as exc:
            form.add_error("quota_mib", exc.messages[0])
        else:
            messages.success(request, f"Le quota de la BAL {mailbox.address} est enregistré.")
            return redirect("mailboxes:admin-detail", mailbox_id=mailbox.pk)
    return render(request, "mailboxes/quota_edit.html", {**context, "form": form})


# --- Inactivity cycle --------------------------------------------------------------------------------------


@login_required
def lifecycle_list(request: HttpRequest) -> HttpResponse:
    """What the daily job does today for the BALs this administrator administers, and the open notices."""
    access_administration(request.user)
    today = timezone.localdate()
    scope = None
    if not is_operator_admin(request.user):
        scope = list(search_admin_mailboxes(request.user).values_list("pk", flat=True))
    steps = lifecycle.plan_lifecycle(today, mailbox_ids=scope)
    notices = {
        notice.pk: notice for notice in LifecycleNotice.objects.filter(pk__in=[s.notice_id for s in steps])
    }
    rows = [(step, notices.get(step.notice_id or 0)) for step in steps]
    return render(request, "mailboxes/lifecycle_list.html", {"rows": rows, "today": today})


@login_required
@post_after_access(for_manage=True)
def lifecycle_keep(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """An administrator opposes the deletion on behalf of the BAL (e.g. the users said they need it)."""
    mailbox = access_mailbox(request.user, mailbox_id, for_manage=True)
    notice = LifecycleNotice.objects.filter(mailbox=mailbox, closed_at__isnull=True).first()
    if notice is None:
        messages.info(request, f"Aucune suppression n'est prévue pour la BAL {mailbox.address}.")
        return redirect("mailboxes:lifecycle-list")
    try:
        lifecycle.do_oppose_notice(notice.pk, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request, f"La BAL {mailbox.address} est conservée : le délai d'un an repart de zéro."
        )
    return redirect("mailboxes:lifecycle-list")


def lifecycle_oppose(request: HttpRequest, token: str) -> HttpResponse:
    """The signed link of the notice e-mail: no login needed (the person may have lost their access)."""
    found = lifecycle.read_opposition_token(token)
    if found is None:
        return render(request, "mailboxes/lifecycle_link_invalid.html", status=404)
    notice, person = found
    if request.method == "POST" and notice.is_open:
        notice = lifecycle.do_oppose_notice(notice.pk, acting_user=person)
        return render(request, "mailboxes/lifecycle_opposed.html", {"notice": notice, "person": person})
    context = {"notice": notice, "person": person, "mailbox": notice.mailbox}
    return render(request, "mailboxes/lifecycle_oppose.html", context)


# --- Monthly indicators ------------------------------------------------------------------------------------


def _operator_admin(request: HttpRequest) -> None:
    if not is_operator_admin(request.user):
        raise Http404


@login_required
def indicators_page(request: HttpRequest) -> HttpResponse:
    _operator_admin(request)
    snapshots = indicators.list_snapshots()
    context = {
        "snapshots": snapshots,
        "chart": indicators.chart_bars(snapshots),
        "kinds": indicators.KIND_LABELS,
        "previous_month": indicators.previous_month(timezone.localdate()),
    }
    return render(request, "mailboxes/indicators.html", context)


@login_required
def indicators_compute(request: HttpRequest) -> HttpResponse:
    _operator_admin(request)  # before the method check: a 405 would tell an outsider the page exists
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    month = indicators.parse_month(request.POST.get("month", ""))
    if month is None or month > timezone.localdate():
        messages.error(request, "Mois invalide : choisissez un mois passé ou le mois en cours (AAAA-MM).")
        return redirect("mailboxes:indicators")
    indicators.do_snapshot_month(month, acting_user=request.user)
    messages.success(request, f"Les indicateurs de {month:%m/%Y} sont calculés.")
    return redirect("mailboxes:indicators")


def _csv_response(rows, filename: str) -> StreamingHttpResponse:  # noqa: ANN001
    response = StreamingHttpResponse(indicators.stream_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def indicators_mailbox_csv(request: HttpRequest, month: str) -> StreamingHttpResponse:
    _operator_admin(request)
    day = indicators.parse_month(month)
    snapshot = indicators.get_snapshot(day) if day else None
    if snapshot is None:
        raise Http404
    return _csv_response(indicators.mailbox_csv_rows(snapshot), f"indicateurs-bal-{month}.csv")


@login_required
def indicators_summary_csv(request: HttpRequest) -> StreamingHttpResponse:
    _operator_admin(request)
    rows = indicators.summary_csv_rows(indicators.list_snapshots(limit=120))
    return _csv_response(rows, "indicateurs-mensuels.csv")
