"""Denormalised display and search columns of a BalAddress, computed from its professional and structure."""

from __future__ import annotations

from apps.annuaire.models import BalAddress
from apps.annuaire.text import join_normalized, normalize


def fill_search_columns(bal: BalAddress) -> None:
    """Set display_name, profession, specialty, structure, place and `search_*` from the linked rows."""
    pro, struct = bal.professional, bal.structure
    if pro is not None:
        bal.display_name = pro.display_name
        bal.profession_code, bal.profession_label = pro.profession_code, pro.profession_label
        bal.specialty_code, bal.specialty_label = pro.savoir_faire_code, pro.savoir_faire_label
        bal.search_name = join_normalized(pro.last_name, pro.first_name)
    if struct is not None:
        bal.structure_name = struct.enseigne or struct.name
        bal.postcode, bal.town, bal.department_code = struct.postcode, struct.town, struct.department_code
    if pro is None:
        bal.display_name = " – ".join(filter(None, (bal.structure_name, bal.service))) or bal.address
        bal.search_name = normalize(bal.structure_name) or normalize(bal.service)
    bal.search_text = build_search_text(
        bal.search_name,
        bal.profession_label,
        bal.specialty_label,
        bal.service,
        bal.structure_name,
        bal.town,
        bal.postcode,
    )


def build_search_text(search_name: str, *parts: str) -> str:
    """Name first, then what a user may add to it ('cardiologue lyon'), all normalised, one string."""
    return " ".join(filter(None, (search_name, join_normalized(*parts))))[:600]
