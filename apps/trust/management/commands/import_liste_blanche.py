"""manage.py import_liste_blanche [PATH_OR_URL] [--checksum PATH_OR_URL] [--force]

Without a source, imports from settings.LISTE_BLANCHE_URL (and LISTE_BLANCHE_CHECKSUM_URL): this is how the
daily refresh is run by hand, or by cron where no Celery beat runs (make run on SQLite).
Exit status 0 when the list was applied, 1 when the previous list was kept (refused or failed).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.trust.models import RefreshStatus
from apps.trust.services import do_import_liste_blanche


class Command(BaseCommand):
    help = "Import the MSSanté liste blanche (ANS XML file: local path or HTTPS URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "source", nargs="?", help="Path or URL of the XML file (default: LISTE_BLANCHE_URL)"
        )
        parser.add_argument("--checksum", help="Path or URL of ANS's SHA-256 `checksum` file")
        parser.add_argument(
            "--force", action="store_true", help="Apply even if a guard (mass removal, older file) refuses it"
        )

    def handle(self, *args: object, **options: Any) -> None:
        source = str(options["source"] or settings.LISTE_BLANCHE_URL)
        checksum: str | None = options["checksum"]
        if not options["source"]:
            checksum = checksum or settings.LISTE_BLANCHE_CHECKSUM_URL or None
        refresh = do_import_liste_blanche(source, checksum=checksum, force=bool(options["force"]))
        for line in refresh.summary_lines():
            self.stdout.write(line)
        if refresh.status != RefreshStatus.APPLIED:
            raise CommandError(f"previous list kept ({refresh.reason_code}): {refresh.reason}")
