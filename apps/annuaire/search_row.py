"""Denormalised display and search columns of a BalAddress.

One pure function, `search_columns`, computes them from plain values: the importer calls it for every line
of the extraction and `fill_search_columns` for a BAL published here, so both rows search the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.annuaire.text import join_normalized

if TYPE_CHECKING:
    from apps.annuaire.models import BalAddress

CIVILITY_LABELS = {"DR": "Dr", "PR": "Pr", "M": "M.", "MME": "Mme"}


def search_columns(
    *,
    kind: str,
    civility: str = "",
    last_name: str = "",
    first_name: str = "",
    profession_label: str = "",
    specialty_label: str = "",
    service: str = "",
    structure_name: str = "",
    postcode: str = "",
    town: str = "",
) -> dict[str, str]:
    """display_name, structure_name, search_name (what autocomplete prefixes) and search_text (everything)."""
    if last_name or first_name:
        title = CIVILITY_LABELS.get(civility.upper(), "") if civility.upper() in ("DR", "PR") else ""
        display = " ".join(filter(None, (title, first_name, last_name)))
        search_name = join_normalized(last_name, first_name)
    else:
        display = " – ".join(filter(None, (structure_name, service)))
        search_name = join_normalized(structure_name, service)
    # Name first so that a name prefix also prefixes search_text; then what users add ("cardiologue lyon").
    rest = join_normalized(profession_label, specialty_label, service, structure_name, town, postcode)
    return {
        "display_name": display[:250],
        "structure_name": structure_name[:200],
        "search_name": search_name[:250],
        "search_text": f"{search_name} {rest}".strip()[:600],
    }


def fill_search_columns(bal: BalAddress) -> None:
    """Set the denormalised columns of `bal` from its professional and structure."""
    pro, struct = bal.professional, bal.structure
    if pro is not None:
        bal.profession_code, bal.profession_label = pro.profession_code, pro.profession_label
        bal.specialty_code, bal.specialty_label = pro.savoir_faire_code, pro.savoir_faire_label
    if struct is not None:
        bal.postcode, bal.town, bal.department_code = struct.postcode, struct.town, struct.department_code
    columns = search_columns(
        kind=bal.kind,
        civility=pro.civility if pro else "",
        last_name=pro.last_name if pro else "",
        first_name=pro.first_name if pro else "",
        profession_label=bal.profession_label,
        specialty_label=bal.specialty_label,
        service=bal.service,
        structure_name=(struct.enseigne or struct.name) if struct else "",
        postcode=bal.postcode,
        town=bal.town,
    )
    for name, value in columns.items():
        setattr(bal, name, value)
    if not bal.display_name:
        bal.display_name = bal.address
