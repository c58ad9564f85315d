from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the journal's seal chain from the last purge anchor (or genesis): recompute every seal "
        "in seal_seq order and name the first broken link (deleted rows, altered row, altered anchor). "
        "Also report events left unsealed for longer than --max-unsealed-age seconds (default "
        "AUDIT_UNSEALED_ALERT_SECONDS). Exit status 0 when all is well, 1 otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-unsealed-age",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Age above which an unsealed event is reported (default: AUDIT_UNSEALED_ALERT_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain(max_unsealed_age=options["max_unsealed_age"])
        for line in result.report_lines():
            self.stdout.write(line)
        if result.first_break is not None:
            raise CommandError(f"Journal chain broken: {result.first_break.message}", returncode=1)
        if not result.ok:
            raise CommandError(
                f"{result.stale_unsealed} journal event(s) unsealed for too long.", returncode=1
            )
