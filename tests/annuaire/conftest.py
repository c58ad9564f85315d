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


def addresses(rows) -> list[str]:
    """The addresses of a search's results (a page, or a list of BAL lines)."""
    rows = rows.results if hasattr(rows, "results") else rows
    return [bal.address for bal in rows]


def publish_cardiologist(last_name: str):
    """Dr Hélène <last_name>, cardiologist at the CENTRE HOSPITALIER LYON of the samples, with a BAL hosted
    here (helene.<last_name>@demo.mssante.fr). Needs `imported_directory`."""
    from apps.annuaire.models import Professional, Structure
    from apps.annuaire.services import do_publish_local_bal

    pro = Professional.objects.create(
        national_id="810001234565", id_type="8", civility="DR", last_name=last_name.upper(),
        first_name="Hélène", profession_code="10", profession_label="Médecin", savoir_faire_code="SM04",
        savoir_faire_label="Cardiologie et maladies vasculaires",
    )  # fmt: skip
    structure = Structure.objects.get(idnat="1693082463")  # CENTRE HOSPITALIER LYON
    address = f"helene.{last_name.lower()}@demo.mssante.fr"
    return do_publish_local_bal(address=address, kind="PER", professional=pro, structure=structure)
