"""Demo data: `make run` imports the two synthetic extraction samples (the demo seeder calls `seed`)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from django.conf import settings

from apps.annuaire.importer import DeactivationGuardTripped
from apps.annuaire.services import do_import_annuaire

SAMPLE_DIR = Path(settings.BASE_DIR) / "demo" / "data" / "annuaire"
# Activity file first: the BALs of the MSSanté file then link to professionals with full structure data.
SAMPLES = ("PS_LibreAcces_Personne_activite_*.txt", "Extraction_Correspondance_MSSante_*.txt")


def seed(stdout: TextIO) -> None:
    """Import both samples; idempotent (a second run reports 0 created). Malformed demo lines are counted."""
    for pattern in SAMPLES:
        for path in sorted(SAMPLE_DIR.glob(pattern)):
            try:
                result = do_import_annuaire(str(path))
            except DeactivationGuardTripped as exc:
                # A bigger directory (e.g. a real extraction) is already loaded: keep it.
                stdout.write(f"{path.name} : {exc}\n")
                continue
            stdout.write(result.summary() + "\n")
