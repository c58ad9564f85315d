"""`manage.py restore DIR`: restore a backup into this platform's empty database and blob store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backup.gpg import BackupKeyError
from apps.backup.manifest import ManifestError
from apps.backup.pg import PostgresError
from apps.backup.restore import do_restore_backup
from apps.backup.services import BackupError


class Command(BaseCommand):
    help = (
        "Restaure une sauvegarde dans la base (DATABASE_URL) et le magasin de blocs (MESSAGE_STORE_DIR) de "
        "cette machine. Refuse une base ou un magasin non vides sauf avec --force (qui efface la base ; "
        "les fichiers déjà présents dans le magasin restent, en orphelins)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--secret-key", required=True, help="clé secrète OpenPGP de sauvegarde (fichier)")
        parser.add_argument("--signer-key", help="clé publique de signature de la plateforme (autre machine)")
        parser.add_argument("--force", action="store_true", help="effacer le contenu de la base existante")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            steps = do_restore_backup(
                options["directory"],
                force=options["force"],
                secret_key=options["secret_key"],
                signer_key=options["signer_key"],
                say=self.stdout.write,
            )
        except (BackupError, BackupKeyError, ManifestError, PostgresError) as exc:
            raise CommandError(f"Restauration refusée ou en échec : {exc}") from exc
        self.stdout.write(f"Sauvegarde {options['directory']} restaurée.")
        for line in steps:
            self.stdout.write(line)
