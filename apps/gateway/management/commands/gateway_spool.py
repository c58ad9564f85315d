"""`manage.py gateway_spool`: the inbound spool for operators (metadata only, never content).

manage.py gateway_spool                      # counts by state, and the rows not ingested
manage.py gateway_spool --state failed       # those rows only
manage.py gateway_spool --retry <id>         # send a failed row back to ingestion (audited)
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.services import do_requeue_failed


class Command(BaseCommand):
    help = "État du spool SMTP entrant ; relance d'un message en échec."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--state", choices=SpoolState.values, help="only rows in this state")
        parser.add_argument("--retry", metavar="ID", help="re-queue this failed row")
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry"]:
            if not do_requeue_failed(options["retry"], operator=f"cli:{getpass.getuser()}"):
                raise CommandError(f"{options['retry']}: no failed row with its key kept under this id")
            self.stdout.write(f"{options['retry']}: re-queued for ingestion")
            return
        counts = dict(InboundMessage.objects.values_list("state").annotate(n=Count("pk")))
        self.stdout.write(" ".join(f"{state}={counts.get(state, 0)}" for state in SpoolState.values))
        rows = InboundMessage.objects.order_by("-received_at")
        rows = (
            rows.filter(state=options["state"])
            if options["state"]
            else rows.exclude(state=SpoolState.INGESTED)
        )
        for row in rows[: options["limit"]]:
            self.stdout.write(
                f"{row.pk} {row.state} {row.received_at:%Y-%m-%d %H:%M:%S} <{row.envelope_sender}> "
                f"{len(row.recipients)} rcpt {row.size} B attempts={row.attempts} {row.last_error}"
            )
