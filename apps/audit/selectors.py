"""Reading the journal: the operator admins' search, a BAL's own journal, the list of actions.

Pagination is by keyset on id (newest first, `before_id` = the last id shown): constant cost however deep
one pages into millions of events, and stable while new events keep arriving.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.models import AuditEvent

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000


@dataclass(frozen=True)
class JournalFilters:
    actor: str = ""  # part of the actor's e-mail
    mailbox: str = ""  # a BAL id, or part of its address
    action: str = ""
    outcome: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    ip: str = ""

    def as_details(self) -> dict[str, str]:
        """The filters actually set, as journal details of the search itself."""
        return {key: str(value) for key, value in asdict(self).items() if value not in ("", None)}


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    next_before: int | None  # pass as `before_id` for the next (older) page; None on the last page


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filtered_events(filters: JournalFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(actor_label__icontains=filters.actor)
    if filters.mailbox.isdigit():
        events = events.filter(mailbox_id=int(filters.mailbox))
    elif filters.mailbox:
        events = events.filter(mailbox_label__icontains=filters.mailbox)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.date_from:
        events = events.filter(occurred_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        events = events.filter(occurred_at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    if filters.ip:
        events = events.filter(ip=filters.ip)
    return events.order_by("-id")


def _page(events: QuerySet[AuditEvent], before_id: int | None, limit: int) -> EventPage:
    if before_id is not None:
        events = events.filter(id__lt=before_id)
    rows = list(events[: limit + 1])
    if len(rows) > limit:
        return EventPage(rows[:limit], rows[limit - 1].id)
    return EventPage(rows, None)


def search_events(
    filters: JournalFilters, *, before_id: int | None = None, limit: int = PAGE_SIZE
) -> EventPage:
    """One page of the operator admins' journal search, newest first."""
    return _page(filtered_events(filters), before_id, limit)


def export_events(filters: JournalFilters, *, max_rows: int = EXPORT_MAX_ROWS) -> Iterator[AuditEvent]:
    """The filtered events, newest first, streamed (server-side cursor) for the CSV export."""
    return filtered_events(filters)[:max_rows].iterator(chunk_size=2000)


def list_mailbox_events(
    mailbox_id: int, *, before_id: int | None = None, limit: int = PAGE_SIZE, action: str = ""
) -> EventPage:
    """The journal of one BAL, newest first: what its responsible professional may consult."""
    events = AuditEvent.objects.filter(mailbox_id=mailbox_id)
    if action:
        events = events.filter(action=action)
    return _page(events.order_by("-id"), before_id, limit)


def list_actions() -> list[str]:
    """Distinct actions present in the journal, sorted.

    A recursive "loose index scan" on the action index: one index probe per distinct action instead of
    reading every row (SELECT DISTINCT scans the whole index on PostgreSQL).
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = (
        f"WITH RECURSIVE actions(action) AS ("  # noqa: S608 - the table name is ours, no user input
        f" SELECT MIN(action) FROM {table}"
        f" UNION ALL SELECT (SELECT MIN(action) FROM {table} WHERE action > actions.action)"
        f" FROM actions WHERE actions.action IS NOT NULL"
        f") SELECT action FROM actions WHERE action IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def has_stale_unsealed(max_age_seconds: int) -> bool:
    """Cheap probe for health checks: is any event waiting for a seal longer than it should?"""
    cutoff = timezone.now() - dt.timedelta(seconds=max_age_seconds)
    return AuditEvent.objects.filter(seal_seq__isnull=True, occurred_at__lt=cutoff).exists()
