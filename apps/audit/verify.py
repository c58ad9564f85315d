"""Checking the journal: recompute the seal chain and look for events left unsealed too long.

Returns a `VerifyResult` rather than printing, so that `manage.py audit_verify`, a health probe or an admin
page can all use it. Streams the chain with a server-side cursor: memory stays flat on millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.chain import CHAIN_FIELDS, GENESIS_SEAL, compute_seal
from apps.audit.models import AuditAnchor, AuditEvent

CHUNK_SIZE = 5000


@dataclass(frozen=True)
class ChainBreak:
    """The first place where the chain does not hold."""

    kind: str  # "gap", "content_altered", "seal_mismatch", "anchor"
    message: str
    event_id: int | None = None
    seal_seq: int | None = None
    expected: str = ""
    stored: str = ""


@dataclass
class VerifyResult:
    start_seq: int = 0
    anchor_id: int | None = None
    checked: int = 0
    last_seq: int = 0
    first_break: ChainBreak | None = None
    max_unsealed_age: int = 0
    unsealed_total: int = 0
    stale_unsealed: int = 0
    oldest_stale_id: int | None = None
    oldest_stale_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def chain_ok(self) -> bool:
        return self.first_break is None

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.stale_unsealed == 0

    def report_lines(self) -> list[str]:
        start = f"anchor #{self.anchor_id} (seal_seq {self.start_seq})" if self.anchor_id else "genesis"
        lines = [
            f"Chain walked from {start}: {self.checked} sealed event(s) verified, "
            f"up to seal_seq {self.last_seq}."
        ]
        if self.first_break is None:
            lines.append("Chain OK: every seal matches.")
        else:
            lines.append(f"CHAIN BROKEN ({self.first_break.kind}): {self.first_break.message}")
        lines.extend(self.notes)
        if self.stale_unsealed:
            lines.append(
                f"UNSEALED TOO LONG: {self.stale_unsealed} event(s) unsealed for more than "
                f"{self.max_unsealed_age} s; oldest is event #{self.oldest_stale_id} of "
                f"{self.oldest_stale_at:%Y-%m-%d %H:%M:%S %Z}. "
                "Is the sealer (apps.audit.tasks.seal_events) running?"
            )
        else:
            lines.append(
                f"Unsealed events: {self.unsealed_total}, none older than {self.max_unsealed_age} s."
            )
        return lines


def _start() -> tuple[int, str, int | None]:
    anchor = AuditAnchor.objects.order_by("-through_seq").values_list("through_seq", "seal", "id").first()
    if anchor is None:
        return 0, GENESIS_SEAL, None
    return int(anchor[0]), str(anchor[1]), int(anchor[2])


def _rows(start_seq: int, through_seq: int | None) -> Iterator[dict[str, Any]]:
    queryset = AuditEvent.objects.filter(seal_seq__gt=start_seq)
    if through_seq is not None:
        queryset = queryset.filter(seal_seq__lte=through_seq)
    fields = (*CHAIN_FIELDS, "seal_seq", "seal")
    return queryset.order_by("seal_seq").values(*fields).iterator(chunk_size=CHUNK_SIZE)


def _gap(expected_seq: int, row: dict[str, Any]) -> ChainBreak:
    missing = row["seal_seq"] - expected_seq
    span = f"{expected_seq}" if missing == 1 else f"{expected_seq} to {row['seal_seq'] - 1}"
    return ChainBreak(
        "gap",
        f"seal_seq {span} missing before event #{row['id']} (seal_seq {row['seal_seq']}): "
        f"{missing} sealed event(s) were deleted.",
        event_id=row["id"],
        seal_seq=row["seal_seq"],
    )


def _mismatch(row: dict[str, Any], expected: str, following: dict[str, Any] | None) -> ChainBreak:
    seq = row["seal_seq"]
    # The next event was sealed over this row's stored seal: if that link still holds, the seal is genuine
    # and it is the row's content that changed since.
    if (
        following is not None
        and following["seal_seq"] == seq + 1
        and compute_seal(row["seal"], following, seq + 1) == following["seal"]
    ):
        kind, what = "content_altered", "its content was changed after sealing (its stored seal is genuine)"
    else:
        kind, what = (
            "seal_mismatch",
            "its stored seal does not match (its seal, its content or both were rewritten)",
        )
    return ChainBreak(
        kind,
        f"event #{row['id']} (seal_seq {seq}): {what}; expected seal {expected}, stored seal {row['seal']}.",
        event_id=row["id"],
        seal_seq=seq,
        expected=expected,
        stored=row["seal"] or "",
    )


def _walk(result: VerifyResult, previous: str, through_seq: int | None) -> None:
    expected_seq = result.start_seq + 1
    rows = _rows(result.start_seq, through_seq)
    for row in rows:
        if row["seal_seq"] != expected_seq:
            result.first_break = _gap(expected_seq, row)
            return
        expected = compute_seal(previous, row, expected_seq)
        if expected != row["seal"]:
            result.first_break = _mismatch(row, expected, next(rows, None))
            return
        previous = row["seal"]
        result.checked += 1
        result.last_seq = expected_seq
        expected_seq += 1
    if through_seq is not None and result.last_seq != through_seq:
        result.first_break = ChainBreak(
            "gap", f"seal_seq {expected_seq} to {through_seq} missing: sealed event(s) were deleted."
        )


def _check_anchor(result: VerifyResult, anchor_id: int) -> None:
    """The latest anchor must agree with the "audit.purged" event written (and later sealed) with it."""
    anchor = AuditAnchor.objects.get(pk=anchor_id)
    purge_event = (
        AuditEvent.objects.filter(action="audit.purged", target_id=str(anchor.pk))
        .values("id", "details")
        .first()
    )
    details = purge_event["details"] if purge_event else {}
    recorded = (details.get("through_seq"), details.get("seal"), details.get("purged_count"))
    if recorded != (anchor.through_seq, anchor.seal, anchor.purged_count):
        where = f"event #{purge_event['id']}" if purge_event else "no audit.purged event"
        result.first_break = ChainBreak(
            "anchor",
            f"anchor #{anchor.pk} (through seal_seq {anchor.through_seq}, seal {anchor.seal}) does not match "
            f"the purge recorded in the journal ({where}): the anchor or that event was altered.",
            event_id=purge_event["id"] if purge_event else None,
            seal_seq=anchor.through_seq,
        )


def _check_unsealed(result: VerifyResult, max_age: int) -> None:
    result.max_unsealed_age = max_age
    unsealed = AuditEvent.objects.filter(seal_seq__isnull=True)
    result.unsealed_total = unsealed.count()
    stale = unsealed.filter(occurred_at__lt=timezone.now() - dt.timedelta(seconds=max_age))
    result.stale_unsealed = stale.count()
    oldest = stale.order_by("id").values_list("id", "occurred_at").first()
    if oldest is not None:
        result.oldest_stale_id, result.oldest_stale_at = oldest


def verify_chain(
    *, through_seq: int | None = None, max_unsealed_age: int | None = None, check_unsealed: bool = True
) -> VerifyResult:
    """Walk the chain by seal_seq from the last anchor (or genesis), recomputing every seal.

    Stops at the first broken link: a gap in seal_seq (deleted rows), a row whose content or seal no longer
    matches, or an anchor that disagrees with its recorded purge. `through_seq` limits the walk (used by the
    purge on the part it is about to delete).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # One snapshot for the whole walk: a purge committing meanwhile cannot show up as a false gap.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        start_seq, start_seal, anchor_id = _start()
        result = VerifyResult(start_seq=start_seq, anchor_id=anchor_id, last_seq=start_seq)
        if anchor_id is not None:
            _check_anchor(result, anchor_id)
        if result.first_break is None:
            _walk(result, start_seal, through_seq)
        if check_unsealed:
            age = settings.AUDIT_UNSEALED_ALERT_SECONDS if max_unsealed_age is None else max_unsealed_age
            _check_unsealed(result, age)
    return result
