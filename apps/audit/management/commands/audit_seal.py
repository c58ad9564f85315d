from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.audit.services import do_seal_pending


class Command(BaseCommand):
    help = (
        "Seal the journal events not sealed yet into the HMAC chain (what the periodic task "
        "apps.audit.tasks.seal_events does). Returns at once with 0 if another sealer is running."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Events sealed per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        sealed = do_seal_pending(batch_size=options["batch_size"])
        self.stdout.write(f"{sealed} event(s) sealed.")
