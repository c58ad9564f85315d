"""`manage.py backup_verify DIR`: restore a backup into a throwaway database and check it (a one-line
verdict and a report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backup.models import RunStatus
from apps.backup.verify import do_verify_backup


class Command(BaseCommand):
    help = (
        "Vérifie une sauvegarde en la restaurant dans une base et un répertoire jetables : signature, "
        "tailles et SHA-256, comptes de lignes, chaîne du journal, lecture d'un échantillon de messages "
        "de chaque BAL. "
        "Code de sortie 0 si elle est bonne, 1 sinon, 2 si la restauration n'a pas pu être essayée."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--secret-key", help="clé secrète OpenPGP de sauvegarde (fichier ASCII armé)")
        parser.add_argument("--signer-key", help="clé publique de signature de la plateforme (autre machine)")
        parser.add_argument(
            "--master-keys-file",
            help="fichier des clés maîtresses à essayer (format MASTER_KEYS) ; "
            "défaut : celles de ce processus",
        )
        parser.add_argument("--sample", type=int, default=3, help="messages lus par BAL (0 : tous)")
        parser.add_argument("--scratch-db", help="nom de la base jetable (défaut : <base>_restore_<aléa>)")

    def handle(self, *args: Any, **options: Any) -> None:
        master_keys = None
        if options["master_keys_file"]:
            master_keys = Path(options["master_keys_file"]).read_text(encoding="utf-8").strip()
        else:
            master_keys = settings.SECRET_READER("BACKUP_VERIFY_MASTER_KEYS")  # never on the command line
        run = do_verify_backup(
            options["directory"],
            say=self.stdout.write,
            secret_key=options["secret_key"],
            signer_key=options["signer_key"],
            master_keys=master_keys,
            sample=options["sample"] or None,
            scratch_db=options["scratch_db"],
        )
        self.stdout.write(run.report)
        self.stdout.write(run.verdict)
        if run.status == RunStatus.FAILED:
            raise CommandError("sauvegarde invalide", returncode=1)
        if run.status == RunStatus.INCOMPLETE:
            raise CommandError("restauration non essayée (--secret-key manquant)", returncode=2)
