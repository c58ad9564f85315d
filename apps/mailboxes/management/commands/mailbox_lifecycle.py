"""`manage.py mailbox_lifecycle [--today YYYY-MM-DD] [--dry-run]`: show, then apply, the inactivity cycle.

The same run as the daily beat job (apps.mailboxes.tasks.run_mailbox_lifecycle); `--today` replays it as
of another date, `--dry-run` only prints the table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.mailboxes.lifecycle import Step, run_lifecycle

COLUMNS = ("BAL", "Type", "Inactive depuis", "Action", "Suppression le", "Résultat")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--today: date invalide « {value} » (format attendu AAAA-MM-JJ)") from None


def _row(step: Step) -> tuple[str, ...]:
    due = step.deletion_due_on.isoformat() if step.deletion_due_on else "—"
    return (step.address, step.kind, step.inactive_since.isoformat(), step.action_label, due, step.outcome)


def table(steps: list[Step], *, dry_run: bool) -> str:
    columns = COLUMNS if not dry_run else COLUMNS[:-1]
    rows = [_row(step)[: len(columns)] for step in steps]
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    header = "  ".join(cell.ljust(width) for cell, width in zip(columns, widths, strict=True))
    return "\n".join([header, "  ".join("-" * width for width in widths), *lines])


class Command(BaseCommand):
    help = "Cycle d'inactivité des BAL : avis à 10 mois, suppression définitive à 12 mois."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today", type=_date, help="date du passage (AAAA-MM-JJ), aujourd'hui par défaut"
        )
        parser.add_argument("--dry-run", action="store_true", help="montrer ce qui est dû sans rien faire")

    def handle(self, *args: Any, **options: Any) -> None:
        today = options["today"] or timezone.localdate()
        dry_run = options["dry_run"]
        steps = run_lifecycle(today, dry_run=dry_run)
        mode = " (simulation : rien n'est envoyé ni supprimé)" if dry_run else ""
        self.stdout.write(f"Cycle d'inactivité au {today.isoformat()}{mode}")
        if not steps:
            self.stdout.write("Rien à faire : aucune BAL inactive depuis assez longtemps.")
            return
        self.stdout.write(table(steps, dry_run=dry_run))
        counts: dict[str, int] = {}
        for step in steps:
            counts[step.action_label] = counts.get(step.action_label, 0) + 1
        summary = ", ".join(f"{label} : {count}" for label, count in counts.items())
        self.stdout.write(f"{len(steps)} BAL concernée(s) — {summary}")
