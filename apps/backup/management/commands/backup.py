"""`manage.py backup DIR`: a new, encrypted and signed backup of the database and the blob store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backup.models import RunStatus
from apps.backup.services import BackupError, do_backup


class Command(BaseCommand):
    help = (
        "Sauvegarde la base (pg_dump, chiffré pour la clé OpenPGP de sauvegarde de l'opérateur) et "
        "le magasin "
        "de blocs dans le nouveau répertoire DIR, avec un manifeste signé (tailles, SHA-256, comptes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="nouveau répertoire (inexistant ou vide)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = do_backup(options["directory"], say=self.stdout.write)
        except BackupError as exc:
            raise CommandError(f"Sauvegarde en échec : {exc}") from exc
        self.stdout.write(run.verdict)
        if run.status != RunStatus.OK:
            raise CommandError(run.report, returncode=1)
