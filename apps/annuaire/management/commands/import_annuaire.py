"""`manage.py import_annuaire PATH [--force]`: import an Annuaire Santé extraction (.txt or .zip)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.annuaire.download import DownloadError, local_copy
from apps.annuaire.formats import UnknownFormat
from apps.annuaire.importer import DeactivationGuardTripped
from apps.annuaire.services import do_import_annuaire


class Command(BaseCommand):
    help = (
        "Importe une extraction de l'Annuaire Santé (Extraction_Correspondance_MSSante ou "
        "PS_LibreAcces_Personne_activite, .txt ou .zip, chemin ou URL https)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="fichier .txt/.zip ou URL https")
        parser.add_argument("--force", action="store_true", help="passer outre la garde des 20 %% désactivés")
        parser.add_argument("--no-progress", action="store_true", help="ne pas afficher la progression")

    def handle(self, *args, path: str, force: bool, no_progress: bool, **options) -> None:
        progress = None if no_progress else self._progress
        try:
            with local_copy(path) as local_path:
                result = do_import_annuaire(
                    str(local_path), force=force, on_progress=progress, on_reject=self._reject
                )
        except DeactivationGuardTripped as exc:
            raise CommandError(str(exc)) from exc
        except (FileNotFoundError, UnknownFormat, DownloadError) as exc:
            raise CommandError(str(exc)) from exc
        if progress:
            self.stderr.write("")
        self.stdout.write(result.summary())

    def _progress(self, read: int, total: int, lines: int) -> None:
        share = read / total if total else 1.0
        bar = "#" * int(share * 30)
        self.stderr.write(f"\r[{bar:<30}] {share:4.0%}  {lines:>10,} lignes".replace(",", " "), ending="")
        self.stderr.flush()

    def _reject(self, line_no: int, reason: str) -> None:
        self.stderr.write(f"Ligne {line_no} rejetée : {reason}")
