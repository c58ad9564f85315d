"""Monthly indicators of the operator: BALs by kind, messages sent and received, connections per BAL.

Computed once a month by the beat job for the month just ended, then frozen (`MonthlyIndicator` and one
`MonthlyMailboxIndicator` line per BAL): a BAL deleted later stays counted in the months it existed. The
Ref#1 deposit has a "Connexions" file with a "Date" field; its exact layout is not public, so the CSV
below is ours (docs/decisions/0012-mailbox-lifecycle.md).

Messages are read from apps.messaging, which depends on this app, never the reverse at import time: the
imports are inside the functions (read-only queries, nothing of messaging is called).
Definitions:
- sent: normal messages (not bounces or receipts) whose sending BAL is one of ours, by `sent_at`;
- received: copies deposited in one of our BALs (not the sender's own copy), by `received_at`;
- connections of a BAL: completed logins (`auth.login` journal events with the second factor or Pro Santé
  Connect done) of the people who act in it, plus, for an applicative BAL, the journal events of its
  software (`api.*` actions recorded under the BAL); users_connected: how many of its people logged in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.mailboxes.lifecycle import start_of_day
from apps.mailboxes.models import (
    Mailbox,
    MailboxKind,
    MailboxMembership,
    MonthlyIndicator,
    MonthlyMailboxIndicator,
)
from apps.mailboxes.signals import collect_message_counts

KIND_FIELDS = {
    "PER": "bals_nominative",
    "ORG": "bals_organisational",
    "CAB": "bals_cabinet",
    "APP": "bals_applicative",
    "PAT": "bals_patient",
}
KIND_LABELS = {"PER": "Nominatives", "ORG": "Organisationnelles", "CAB": "Cabinets", "APP": "Applicatives"}
KIND_LABELS["PAT"] = "Patients (MSS-C)"
BATCH = 5000


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(today: dt.date) -> dt.date:
    return first_of_month(today) - relativedelta(months=1)


def parse_month(value: str) -> dt.date | None:
    """`YYYY-MM` -> first day of that month, or None."""
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except (TypeError, ValueError):
        return None


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return start_of_day(month), start_of_day(month + relativedelta(months=1))


def _kind_of(kind: str, is_cabinet: bool) -> str:
    if kind == MailboxKind.NOMINATIVE:
        return "PER"
    if kind == MailboxKind.APPLICATIVE:
        return "APP"
    if kind == MailboxKind.PATIENT:
        return "PAT"
    return "CAB" if is_cabinet else "ORG"


# --- Counting ---------------------------------------------------------------------------------------------


def _logins(start: dt.datetime, end: dt.datetime) -> Counter[int]:
    rows = (
        AuditEvent.objects.filter(action="auth.login", occurred_at__gte=start, occurred_at__lt=end)
        .filter(details__complete=True, actor_id__isnull=False)
        .values("actor_id")
        .annotate(n=Count("pk"))
    )
    return Counter({row["actor_id"] or 0: row["n"] for row in rows})


def _software_uses(start: dt.datetime, end: dt.datetime) -> dict[int, int]:
    rows = (
        AuditEvent.objects.filter(action__startswith="api.", occurred_at__gte=start, occurred_at__lt=end)
        .filter(mailbox_id__isnull=False)
        .values("mailbox_id")
        .annotate(n=Count("pk"))
    )
    return {row["mailbox_id"] or 0: row["n"] for row in rows}


def _members() -> dict[int, list[int]]:
    people: dict[int, list[int]] = defaultdict(list)
    for mailbox_id, user_id in MailboxMembership.objects.values_list("mailbox_id", "user_id").iterator(BATCH):
        people[mailbox_id].append(user_id)
    return people


@dataclass
class MonthCounts:
    sent: dict[int, int]
    received: dict[int, int]
    logins: Counter[int]
    software: dict[int, int]
    members: dict[int, list[int]]


def _counts(month: dt.date) -> MonthCounts:
    start, end = month_bounds(month)
    messages = collect_message_counts(start, end)  # answered by messaging (mailboxes/signals.py)
    return MonthCounts(
        sent=messages.sent,
        received=messages.received,
        logins=_logins(start, end),
        software=_software_uses(start, end),
        members=_members(),
    )


def _lines(month: dt.date, counts: MonthCounts) -> Iterator[MonthlyMailboxIndicator]:
    _start, end = month_bounds(month)
    fields = ("pk", "address", "kind", "is_cabinet", "owner_id", "responsible_id")
    rows = Mailbox.objects.filter(created_at__lt=end).order_by("pk").values_list(*fields)
    for pk, address, kind, is_cabinet, owner_id, responsible_id in rows.iterator(BATCH):
        people = {owner_id} if owner_id else set()
        if kind == MailboxKind.ORGANISATIONAL:
            people.update(counts.members.get(pk, []))
            people.add(responsible_id)
        connected = [user for user in people if counts.logins.get(user)]
        yield MonthlyMailboxIndicator(
            mailbox_id=pk,
            address=address,
            kind=_kind_of(kind, is_cabinet),
            connections=sum(counts.logins[user] for user in connected) + counts.software.get(pk, 0),
            users_connected=len(connected),
            messages_sent=counts.sent.get(pk, 0),
            messages_received=counts.received.get(pk, 0),
        )


def do_snapshot_month(month: dt.date, *, acting_user: Any = None) -> MonthlyIndicator:
    """(Re)compute and store a month's indicators. Idempotent: a second run replaces the month."""
    month = first_of_month(month)
    counts = _counts(month)
    with transaction.atomic():
        MonthlyIndicator.objects.filter(month=month).delete()
        snapshot = MonthlyIndicator.objects.create(month=month, computed_at=timezone.now())
        kinds: Counter[str] = Counter()
        batch: list[MonthlyMailboxIndicator] = []
        for line in _lines(month, counts):
            line.snapshot = snapshot
            kinds[line.kind] += 1
            batch.append(line)
            if len(batch) >= BATCH:
                MonthlyMailboxIndicator.objects.bulk_create(batch)
                batch = []
        MonthlyMailboxIndicator.objects.bulk_create(batch)
        for kind, field in KIND_FIELDS.items():
            setattr(snapshot, field, kinds[kind])
        snapshot.messages_sent = sum(counts.sent.values())
        snapshot.messages_received = sum(counts.received.values())
        snapshot.connections = sum(counts.logins.values()) + sum(counts.software.values())
        snapshot.users_connected = len(counts.logins)
        snapshot.save()
        record_event(
            "mailbox.indicators_computed",
            actor=acting_user,
            target=snapshot,
            details={"month": f"{month:%Y-%m}", "bals": sum(kinds.values())},
        )
    return snapshot


# --- Reading and exporting ---------------------------------------------------------------------------------


def list_snapshots(limit: int = 24) -> list[MonthlyIndicator]:
    return list(MonthlyIndicator.objects.order_by("-month")[:limit])


def get_snapshot(month: dt.date) -> MonthlyIndicator | None:
    return MonthlyIndicator.objects.filter(month=first_of_month(month)).first()


MAILBOX_CSV_HEADER = [
    "mois",
    "adresse",
    "type",
    "connexions",
    "utilisateurs_connectes",
    "messages_envoyes",
    "messages_recus",
]
SUMMARY_CSV_HEADER = [
    "mois",
    "bal_nominatives",
    "bal_organisationnelles",
    "bal_cabinets",
    "bal_applicatives",
    "bal_patients",
    "messages_envoyes",
    "messages_recus",
    "connexions",
    "utilisateurs_connectes",
]


def mailbox_csv_rows(snapshot: MonthlyIndicator) -> Iterator[list[str]]:
    """The month's per-BAL lines (header first); streamed, the table can hold a million BALs."""
    yield MAILBOX_CSV_HEADER
    month = f"{snapshot.month:%Y-%m}"
    for line in snapshot.lines.order_by("address").iterator(BATCH):
        values = [line.connections, line.users_connected, line.messages_sent, line.messages_received]
        yield [month, line.address, line.kind, *map(str, values)]


def summary_csv_rows(snapshots: list[MonthlyIndicator]) -> Iterator[list[str]]:
    yield SUMMARY_CSV_HEADER
    for one in sorted(snapshots, key=lambda snapshot: snapshot.month):
        values = [getattr(one, field) for field in KIND_FIELDS.values()]
        values += [one.messages_sent, one.messages_received, one.connections, one.users_connected]
        yield [f"{one.month:%Y-%m}", *map(str, values)]


def to_csv(rows: Iterator[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


class Echo:
    """A file-like object whose write returns the line: lets csv.writer feed a StreamingHttpResponse."""

    def write(self, value: str) -> str:
        return value


def stream_csv(rows: Iterator[list[str]]) -> Iterator[str]:
    writer = csv.writer(Echo(), lineterminator="\r\n")
    for row in rows:
        yield writer.writerow(row)


# --- The chart (server-rendered SVG: no script, nothing external; CSP-safe) ---------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 720, 240, 40


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    value: int
    label: str
    series: str


def chart_bars(snapshots: list[MonthlyIndicator]) -> dict[str, Any]:
    """Paired bars (sent, received) per month, oldest on the left, scaled to the largest value."""
    months = sorted(snapshots, key=lambda snapshot: snapshot.month)[-12:]
    top = max([1, *(max(one.messages_sent, one.messages_received) for one in months)])
    inner_height = CHART_HEIGHT - 2 * CHART_PAD
    slot = (CHART_WIDTH - 2 * CHART_PAD) // max(1, len(months))
    width = max(4, (slot - 8) // 2)
    bars, labels = [], []
    for index, one in enumerate(months):
        left = CHART_PAD + index * slot + 4
        for offset, (series, value) in enumerate(
            (("sent", one.messages_sent), ("received", one.messages_received))
        ):
            height = round(value * inner_height / top)
            y = CHART_HEIGHT - CHART_PAD - height
            bars.append(Bar(left + offset * width, y, width, height, value, f"{one.month:%m/%Y}", series))
        labels.append({"x": left + width, "text": f"{one.month:%m/%y}"})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline": CHART_HEIGHT - CHART_PAD,
        "label_y": CHART_HEIGHT - CHART_PAD + 16,
        "pad": CHART_PAD,
        "right": CHART_WIDTH - CHART_PAD,
        "top_value": top,
        "bars": bars,
        "labels": labels,
    }
