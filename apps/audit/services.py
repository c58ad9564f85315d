"""Writing to the journal. Call `record_event` inside the transaction of the change it describes.

Also the only two writers that touch the chain itself: the sealer (`do_seal_pending`) and the retention purge
(`do_purge`); both hold the chain's advisory lock so they never run at the same time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit import context
from apps.audit.chain import CHAIN_FIELDS, CHAIN_LOCK_ID, GENESIS_SEAL, compute_seal
from apps.audit.models import AuditAnchor, AuditEvent, Outcome
from apps.audit.verify import verify_chain
from mssante_lib import fastsql

# Keys that must never reach the journal even if a caller passes them by mistake: content stays out.
_FORBIDDEN_DETAIL_KEYS = frozenset(
    {"body", "content", "text", "html", "password", "secret", "token", "attachment"}
)


def _label_of(obj: Any) -> str:
    if obj is None:
        return ""
    for attr in ("email", "address"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)[:254]
    return str(obj)[:254]


def record_event(action: str, **fields: Any) -> AuditEvent:
    """Insert one journal event (fields: those of `build_event`). `actor` is the individual person (never a
    shared identity)."""
    event = build_event(action, **fields)
    fastsql.insert([event])  # every audited change passes here: no per-call SQL compilation
    return event


def record_events(events: list[AuditEvent]) -> None:
    """Insert events made by `build_event` in one statement (the batch depositor: one insert per batch)."""
    fastsql.insert(events)


def build_event(
    action: str,
    *,
    actor: Any = None,
    mailbox: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """The unsaved event `record_event` would insert (content keys dropped, request context added)."""
    clean = {key: value for key, value in (details or {}).items() if key not in _FORBIDDEN_DETAIL_KEYS}
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    ctx = context.current()
    actor_id = (
        getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", True) else None
    )
    return AuditEvent(
        action=action,
        actor_id=actor_id,
        actor_label=actor_label or (_label_of(actor) if actor_id else ""),
        mailbox_id=getattr(mailbox, "pk", None),
        mailbox_label=_label_of(mailbox),
        target_type=target_type,
        target_id=str(target_id)[:128],
        outcome=outcome,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        details=clean,
    )


def changes(instance: models.Model, new_values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Old/new pairs of the fields that really change, for the `details` of an admin-change event."""
    diff: dict[str, dict[str, Any]] = {}
    for field, new in new_values.items():
        old = getattr(instance, field)
        if old != new:
            diff[field] = {"old": _jsonable(old), "new": _jsonable(new)}
    return diff


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return str(value.pk)
    return str(value)


# --- Sealing ---------------------------------------------------------------------------------------------


def chain_head() -> tuple[int, str]:
    """(seal_seq, seal) the next event links to: last sealed event, else the last anchor, else genesis."""
    last = (
        AuditEvent.objects.filter(seal_seq__isnull=False)
        .order_by("-seal_seq")
        .values_list("seal_seq", "seal")
        .first()
    )
    anchor = AuditAnchor.objects.order_by("-through_seq").values_list("through_seq", "seal").first()
    heads = [(int(head[0] or 0), str(head[1])) for head in (last, anchor) if head is not None]
    return max(heads, default=(0, GENESIS_SEAL))


def _lock_chain(*, wait: bool) -> bool:
    """Take the chain's transaction-scoped advisory lock (PostgreSQL); SQLite serialises writers anyway."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
        return bool(cursor.fetchone()[0])


def _seal_batch(batch_size: int) -> int | None:
    """Seal up to `batch_size` events in one transaction; None when another sealer holds the chain."""
    with transaction.atomic():
        if not _lock_chain(wait=False):
            return None
        seq, seal = chain_head()
        rows = list(
            AuditEvent.objects.filter(seal_seq__isnull=True).order_by("id").values(*CHAIN_FIELDS)[:batch_size]
        )
        sealed: list[tuple[int, int, str]] = []
        for row in rows:
            seq += 1
            seal = compute_seal(seal, row, seq)
            sealed.append((row["id"], seq, seal))
        _store_seals(sealed)
    return len(rows)


def _store_seals(sealed: list[tuple[int, int, str]]) -> None:
    now = timezone.now()
    if not sealed:
        return
    if connection.vendor != "postgresql":
        objs = [AuditEvent(id=id_, seal_seq=seq, seal=seal, sealed_at=now) for id_, seq, seal in sealed]
        AuditEvent.objects.bulk_update(objs, ["seal_seq", "seal", "sealed_at"])
        return
    # One UPDATE joined to unnested arrays: linear, where bulk_update's CASE WHEN per row is quadratic.
    ids, seqs, seals = (list(column) for column in zip(*sealed, strict=True))
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET seal_seq = v.seq, seal = v.seal, sealed_at = %s "  # noqa: S608 - our table
            "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS v(id, seq, seal) WHERE e.id = v.id",
            [now, ids, seqs, seals],
        )


def do_seal_pending(batch_size: int = 500, max_batches: int = 200) -> int:
    """Chain every unsealed event after the current head; return how many were sealed.

    Only one sealer works at a time: on PostgreSQL a second one finds the advisory lock taken and returns 0
    at once instead of queueing behind the first. Events are taken in id order, but the chain order is
    `seal_seq`, not `id`: an event whose transaction commits after events with higher ids were sealed
    (ids are allocated at INSERT, visibility comes at COMMIT) simply gets a later seal_seq. The verifier walks
    `seal_seq`. Writers never wait on the sealer: they only INSERT unsealed rows. Bounded to `max_batches`
    batches per call so one run never holds the worker indefinitely; the next beat tick continues.
    """
    total = 0
    for _ in range(max_batches):
        sealed = _seal_batch(batch_size)
        if sealed is None:
            break
        total += sealed
        if sealed < batch_size:
            break
    return total


# --- Retention purge -------------------------------------------------------------------------------------


class PurgeRefused(Exception):
    """The purge would break the retention rule or hide a broken chain; the message says which."""


@dataclass(frozen=True)
class PurgePlan:
    before: dt.datetime
    after_seq: int  # the previous anchor (or 0): purged events have after_seq < seal_seq <= through_seq
    through_seq: int
    count: int
    last_seal: str
    anchor_id: int | None = None


def purge_limit() -> dt.datetime:
    """The newest `--before` a purge accepts: now minus AUDIT_RETENTION_DAYS (never less than 6 months)."""
    return timezone.now() - dt.timedelta(days=settings.AUDIT_RETENTION_DAYS)


def _plan_purge(before: dt.datetime) -> PurgePlan:
    after_seq, after_seal = 0, GENESIS_SEAL
    anchor = AuditAnchor.objects.order_by("-through_seq").values_list("through_seq", "seal").first()
    if anchor is not None:
        after_seq, after_seal = anchor
    remaining = AuditEvent.objects.filter(seal_seq__gt=after_seq)
    # Purge the longest prefix of the chain made only of old events: the anchor must cut the chain cleanly.
    first_kept = (
        remaining.filter(occurred_at__gte=before).order_by("seal_seq").values_list("seal_seq", flat=True)
    )
    kept_seq = first_kept.first()
    if kept_seq is None:
        kept_seq = (
            remaining.order_by("-seal_seq").values_list("seal_seq", flat=True).first() or after_seq
        ) + 1
    through_seq = kept_seq - 1
    if through_seq <= after_seq:
        return PurgePlan(before, after_seq, after_seq, 0, after_seal)
    count = remaining.filter(seal_seq__lte=through_seq).count()
    last_seal = remaining.filter(seal_seq=through_seq).values_list("seal", flat=True).first()
    if count != through_seq - after_seq or last_seal is None:
        raise PurgeRefused(
            f"The chain has a gap between seal_seq {after_seq + 1} and {through_seq} "
            f"({through_seq - after_seq - count} event(s) missing); run `manage.py audit_verify`."
        )
    return PurgePlan(before, after_seq, through_seq, count, last_seal)


def _set_purge_flag(value: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('mssante.audit_purge', %s, true)", [value])


def _delete_purged(plan: PurgePlan) -> None:
    # One plain DELETE (no ORM collector fetching millions of rows), with the trigger's purge flag raised
    # only around it.
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    _set_purge_flag("on")
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE seal_seq > %s AND seal_seq <= %s",  # noqa: S608 - our table name
            [plan.after_seq, plan.through_seq],
        )
    _set_purge_flag("off")


def do_purge(before: dt.datetime, *, actor_label: str, dry_run: bool = False) -> PurgePlan:
    """Delete sealed events older than `before`, leaving an AuditAnchor so the rest stays verifiable.

    The only way rows ever leave the journal (the PostgreSQL trigger refuses any other DELETE). Refused when
    `before` is within the retention period or when the part to purge does not verify: a purge must never
    hide a broken chain. The anchor and an "audit.purged" event are written in the same transaction.
    """
    if before > purge_limit():
        raise PurgeRefused(
            f"Refusing to purge events newer than {timezone.localtime(purge_limit()):%Y-%m-%d %H:%M %Z}: "
            f"the retention period is {settings.AUDIT_RETENTION_DAYS} days (AUDIT_RETENTION_DAYS)."
        )
    with transaction.atomic():
        _lock_chain(wait=True)
        plan = _plan_purge(before)
        if dry_run or plan.count == 0:
            return plan
        check = verify_chain(through_seq=plan.through_seq, check_unsealed=False)
        if check.first_break is not None:
            raise PurgeRefused(f"The chain is broken, nothing purged: {check.first_break.message}")
        _delete_purged(plan)
        anchor = AuditAnchor.objects.create(
            through_seq=plan.through_seq,
            seal=plan.last_seal,
            purged_count=plan.count,
            purged_before=before,
            actor_label=actor_label[:254],
        )
        details = {"anchor_id": anchor.id, "through_seq": plan.through_seq, "seal": plan.last_seal}
        details |= {"purged_count": plan.count, "before": before.isoformat()}
        record_event("audit.purged", actor_label=actor_label, target=anchor, details=details)
    return PurgePlan(before, plan.after_seq, plan.through_seq, plan.count, plan.last_seal, anchor.id)


# --- Reading the journal is itself journalled ------------------------------------------------------------


def do_note_journal_search(actor: Any, filters: dict[str, str], *, shown: int, before_id: int | None) -> None:
    with transaction.atomic():
        details: dict[str, Any] = {"filters": filters, "shown": shown}
        if before_id is not None:
            details["before_id"] = before_id
        record_event("audit.searched", actor=actor, details=details)


def do_note_journal_export(actor: Any, filters: dict[str, str], *, max_rows: int) -> None:
    with transaction.atomic():
        record_event("audit.exported", actor=actor, details={"filters": filters, "max_rows": max_rows})
