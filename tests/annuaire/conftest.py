"""Fixtures of the annuaire tests: the two synthetic extraction samples and helpers to derive variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

SAMPLES = Path(settings.BASE_DIR) / "demo" / "data" / "annuaire"
MSSANTE = next(SAMPLES.glob("Extraction_Correspondance_MSSante_*.txt"))
ACTIVITY = next(SAMPLES.glob("PS_LibreAcces_Personne_activite_*.txt"))


def sample_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def write_extraction(tmp_path):
    """Write `lines` (header included) as an extraction file named like the real one; returns its path."""

    def write(lines: list[str], name: str = MSSANTE.name) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def imported_directory(db):
    """Both samples imported (activity file first, as the daily job does)."""
    from apps.annuaire.services import do_import_annuaire

    return do_import_annuaire(str(ACTIVITY)), do_import_annuaire(str(MSSANTE))
