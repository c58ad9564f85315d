"""The two public extraction formats of the Annuaire Santé: detection, line splitting and row building.

Pure functions over text lines: no database. Each parsed line becomes plain tuples in the column order of the
importer's staging tables (PRO_COLUMNS, STRUCT_COLUMNS, PLACE_COLUMNS, BAL_COLUMNS), or a `LineRejected`
carrying a French reason. Column layouts: docs/mssante.md §3.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from apps.annuaire.categories import category_for
from apps.annuaire.identifiers import IdentifierError, check_finess, check_national_id, check_siret
from apps.annuaire.search_row import search_columns

MSSANTE_COLUMNS = 31
ACTIVITY_COLUMNS = 56
OFFICINE_SECTOR = "SA33"
KNOWN_KINDS = frozenset({"PER", "ORG", "APP", "CAB"})

PRO_COLUMNS = (
    "national_id", "id_type", "civility", "last_name", "first_name", "profession_code", "profession_label",
    "category", "savoir_faire_code", "savoir_faire_label",
)  # fmt: skip
# Columns both formats carry for a structure; the activity file adds STRUCT_ACTIVITY_COLUMNS.
STRUCT_COLUMNS = (
    "idnat", "finess", "siret", "name", "enseigne", "address_complement", "address_street", "address_mention",
    "postcode", "town", "department_code", "country",
)  # fmt: skip
STRUCT_ACTIVITY_COLUMNS = (
    "finess_ej", "siren", "technical_id", "department_label", "sector_code", "sector_label", "is_officine",
)  # fmt: skip
PLACE_COLUMNS = (
    "key", "national_id", "idnat", "role_code", "role_label", "mode_code", "mode_label", "genre_code",
    "genre_label",
)  # fmt: skip
BAL_COLUMNS = (
    "address", "kind", "national_id", "idnat", "service", "dematerialisation", "display_name",
    "profession_code", "profession_label", "specialty_code", "specialty_label", "structure_name", "postcode",
    "town", "department_code", "search_name", "search_text",
)  # fmt: skip


class Format(enum.Enum):
    MSSANTE = "Extraction_Correspondance_MSSante"
    ACTIVITY = "PS_LibreAcces_Personne_activite"


# The key of each entity in the file: what a run records as seen, and what it deactivates when not seen.
ENTITY_KEYS = {"pro": "national_id", "struct": "idnat", "place": "key", "bal": "address"}


def struct_columns(fmt: Format) -> tuple[str, ...]:
    """The structure columns a file of this format carries, in staging order."""
    return STRUCT_COLUMNS + (STRUCT_ACTIVITY_COLUMNS if fmt is Format.ACTIVITY else ())


class LineRejected(ValueError):
    """A malformed line: reported with its number and reason, the import goes on."""


class UnknownFormat(ValueError):
    pass


@dataclass
class ParsedLine:
    professional: tuple | None = None
    structure: tuple | None = None
    place: tuple | None = None
    bal: tuple | None = None
    extra: dict = field(default_factory=dict)


def split_line(line: str, expected: int) -> list[str]:
    """Split on `|`, accepting the optional trailing separator; wrong column counts are rejected."""
    cells = line.rstrip("\r\n").split("|")
    if len(cells) == expected + 1 and cells[-1] == "":
        cells.pop()
    if len(cells) != expected:
        raise LineRejected(f"{expected} colonnes attendues, {len(cells)} trouvées")
    return [cell.strip() for cell in cells]


def detect_format(header: str) -> Format:
    cells = header.lstrip("\ufeff").rstrip("\r\n").split("|")
    if cells and cells[-1] == "":
        cells.pop()
    first = cells[0].strip() if cells else ""
    if len(cells) == MSSANTE_COLUMNS and first == "Type de BAL":
        return Format.MSSANTE
    if len(cells) == ACTIVITY_COLUMNS and first == "Type d'identifiant PP":
        return Format.ACTIVITY
    raise UnknownFormat(
        f"En-tête non reconnu ({len(cells)} colonnes, première « {first[:40]} ») : ni l'extraction "
        "Correspondance MSSanté (31 colonnes) ni PS_LibreAcces Personne_activite (56 colonnes)."
    )


def _national_id(value: str) -> str:
    try:
        return check_national_id(value)
    except IdentifierError as exc:
        raise LineRejected(str(exc)) from exc


def _structure_idnat(finess: str, siret: str, technical_id: str) -> str:
    """`1`+FINESS, else `3`+SIRET, else the technical id: the rule of the MSSanté extraction."""
    if finess:
        return "1" + finess
    if siret:
        return "3" + siret
    if technical_id:
        return technical_id if technical_id[:1].isalpha() else "T" + technical_id
    return ""


def _checked(check, value: str) -> str:
    if not value:
        return ""
    try:
        return check(value)
    except IdentifierError as exc:
        raise LineRejected(str(exc)) from exc


def _town_from_routing_line(routing: str, postcode: str) -> str:
    town = routing[len(postcode) :].strip() if postcode and routing.startswith(postcode) else routing
    return town.split(" CEDEX")[0].strip()


def parse_mssante(cells: list[str]) -> ParsedLine:
    kind, address = cells[0].upper(), cells[1].strip().lower()
    if kind not in KNOWN_KINDS:
        raise LineRejected(f"type de BAL « {cells[0]} » inconnu (PER, ORG, APP ou CAB attendu)")
    if not address or "@" not in address:
        raise LineRejected("adresse BAL vide ou invalide")
    national_id = _national_id(cells[4]) if (cells[4] or kind in ("PER", "CAB")) else ""
    parsed = ParsedLine()
    profession_label, specialty_label = cells[14], cells[16]
    if national_id:
        parsed.professional = (
            national_id, national_id[0], cells[8], cells[9], cells[10], cells[13], profession_label,
            category_for(cells[13], profession_label), cells[15], specialty_label,
        )  # fmt: skip
    idnat = cells[6]
    struct_type, struct_id = cells[5], cells[6][1:]
    postcode, town = cells[28], _town_from_routing_line(cells[27], cells[28])
    if idnat:
        finess = _checked(check_finess, struct_id) if struct_type == "1" else ""
        siret = _checked(check_siret, struct_id) if struct_type == "3" else ""
        street = " ".join(filter(None, (cells[22], cells[23], cells[24], cells[25])))
        complement = " ".join(filter(None, (cells[20], cells[21])))
        parsed.structure = (
            idnat, finess, siret, cells[18], cells[19], complement, street, cells[26], postcode, town,
            cells[29], cells[30],
        )  # fmt: skip
    elif kind in ("ORG", "APP"):
        raise LineRejected("BAL organisationnelle ou applicative sans identifiant de structure")
    columns = search_columns(
        kind=kind, civility=cells[8], last_name=cells[9], first_name=cells[10],
        profession_label=profession_label, specialty_label=specialty_label, service=cells[7],
        structure_name=cells[19] or cells[18], postcode=postcode, town=town,
    )  # fmt: skip
    parsed.bal = (
        address, kind, national_id, idnat, cells[7], cells[17].lower() == "true", columns["display_name"],
        cells[13], profession_label, cells[15], specialty_label, columns["structure_name"], postcode, town,
        cells[29], columns["search_name"], columns["search_text"],
    )  # fmt: skip
    return parsed


def parse_activity(cells: list[str]) -> ParsedLine:
    national_id = _national_id(cells[2])
    if cells[0] and cells[0] != national_id[0]:
        raise LineRejected(f"type d'identifiant « {cells[0]} » incohérent avec l'identifiant national")
    profession_label = cells[10]
    parsed = ParsedLine(
        professional=(
            national_id,
            national_id[0],
            cells[3],
            cells[7],
            cells[8],
            cells[9],
            profession_label,
            category_for(cells[9], profession_label),
            cells[15],
            cells[16],
        )  # fmt: skip
    )
    finess = _checked(check_finess, cells[21])
    siret = _checked(check_siret, cells[19])
    idnat = _structure_idnat(finess, siret, cells[23])
    if not idnat:
        return parsed
    street = " ".join(filter(None, (cells[28], cells[29], cells[30], cells[32])))
    complement = " ".join(filter(None, (cells[26], cells[27])))
    mention = " ".join(filter(None, (cells[33], cells[34])))
    parsed.structure = (
        idnat, finess, siret, cells[24], cells[25], complement, street, mention, cells[35], cells[37],
        cells[44], cells[39], cells[22], cells[20], cells[23], cells[45], cells[48], cells[49],
        cells[48] == OFFICINE_SECTOR,
    )  # fmt: skip
    key = f"{national_id}|{idnat}|{cells[52]}"
    parsed.place = (key, national_id, idnat, cells[52], cells[53], cells[17], cells[18], cells[54], cells[55])
    return parsed


PARSERS = {
    Format.MSSANTE: (MSSANTE_COLUMNS, parse_mssante),
    Format.ACTIVITY: (ACTIVITY_COLUMNS, parse_activity),
}


def parse_line(fmt: Format, line: str) -> ParsedLine:
    expected, parser = PARSERS[fmt]
    return parser(split_line(line, expected))
