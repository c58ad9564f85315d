from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.audit.services import PurgeRefused, do_purge, purge_limit


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--before expects a date as YYYY-MM-DD, got {value!r}.") from exc


class Command(BaseCommand):
    help = (
        "The only way to delete journal events (retention). Deletes the SEALED events that occurred "
        "before --before (00:00, TIME_ZONE), as the longest verified prefix of the chain, and leaves an "
        "anchor (last purged seal_seq and seal, count, date, actor) plus an 'audit.purged' event, in one "
        "transaction, so `audit_verify` keeps verifying the rest. Refuses a date within "
        "AUDIT_RETENTION_DAYS (at least 183 days) and refuses to purge a broken chain. "
        "See docs/operations.md, section 'Journal de traçabilité'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, type=_day, metavar="YYYY-MM-DD")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be purged, delete nothing."
        )
        parser.add_argument(
            "--actor", default="", help="Who runs the purge, recorded in the anchor (default: the OS user)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["before"]
        before = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        actor = options["actor"] or f"os:{getpass.getuser()}"
        try:
            plan = do_purge(before, actor_label=actor, dry_run=options["dry_run"])
        except PurgeRefused as exc:
            raise CommandError(str(exc)) from exc
        if plan.count == 0:
            self.stdout.write(
                f"Nothing to purge before {day} (oldest date allowed: {purge_limit():%Y-%m-%d})."
            )
        elif options["dry_run"]:
            self.stdout.write(
                f"Dry run: would purge {plan.count} event(s), "
                f"seal_seq {plan.after_seq + 1} to {plan.through_seq}."
            )
        else:
            self.stdout.write(
                f"Purged {plan.count} event(s), seal_seq {plan.after_seq + 1} to {plan.through_seq}; "
                f"anchor #{plan.anchor_id} keeps seal {plan.last_seal}."
            )
