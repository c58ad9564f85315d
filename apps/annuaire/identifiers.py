"""Checks of the national identifiers: pure functions, no Django models, used by forms, importers and the API.

Each `check_*` takes raw input, returns the normalised value or raises `IdentifierError` whose text is a
French sentence naming the field and the reason. `is_valid_*` are the boolean forms; `compute_*_key` give the
control key of a body (tests, fixtures, benchmarks). Rules and worked examples: docs/mssante.md §6.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.exceptions import ValidationError

FIELD_LABELS = {
    "ins": "Le matricule INS",
    "rpps": "Le numéro RPPS",
    "adeli": "Le numéro ADELI",
    "national_id": "L'identifiant national",
    "finess": "Le numéro FINESS",
    "siret": "Le numéro SIRET",
    "siren": "Le numéro SIREN",
}

LA_POSTE_SIREN = "356000000"
LA_POSTE_HEADQUARTERS_SIRET = "35600000000048"

_INS_RE = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$")
_ADELI_RE = re.compile(r"^(?:[0-9]{2}|2[AB]|9[A-F])[0-9]{7}$")
_FINESS_RE = re.compile(r"^(?:[0-9]{2}|2[AB])[0-9]{7}$")


class IdentifierError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{FIELD_LABELS.get(field, field)} est invalide : {reason}.")


def _clean(value: object) -> str:
    if isinstance(value, str) and value.isdigit():  # the common case of an import: nothing to strip
        return value
    return re.sub(r"[\s.\-]", "", str(value or "")).upper()


def luhn_sum(digits: str) -> int:
    """Luhn sum of a digit string: doubling every second digit from the right."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total


def luhn_is_valid(digits: str) -> bool:
    return digits.isdigit() and luhn_sum(digits) % 10 == 0


def compute_luhn_key(body: str) -> str:
    """The digit to append to `body` so that the whole is Luhn-valid."""
    return str((10 - luhn_sum(body + "0") % 10) % 10)


def _digits(field: str, value: object, length: int) -> str:
    cleaned = _clean(value)
    if not cleaned:
        raise IdentifierError(field, "la valeur est vide")
    if not cleaned.isdigit():
        raise IdentifierError(field, "seuls des chiffres sont attendus")
    if len(cleaned) != length:
        raise IdentifierError(field, f"{length} chiffres sont attendus, {len(cleaned)} reçus")
    return cleaned


def _luhn(field: str, value: str) -> str:
    if not luhn_is_valid(value):
        raise IdentifierError(field, "la clé de contrôle ne correspond pas")
    return value


# --- INS (matricule NIR/NIA) --------------------------------------------------------------------------------
def compute_ins_key(body: str) -> int:
    """Key = 97 - (N mod 97), N being the 13 first characters with Corsica 2A -> 19 and 2B -> 18."""
    numeric = body[:5] + body[5:7].replace("2A", "19").replace("2B", "18") + body[7:13]
    return 97 - int(numeric) % 97


def check_ins(value: object) -> str:
    cleaned = _clean(value)
    if not cleaned:
        raise IdentifierError("ins", "la valeur est vide")
    if len(cleaned) != 15:
        raise IdentifierError("ins", f"15 caractères sont attendus, {len(cleaned)} reçus")
    if not _INS_RE.match(cleaned):
        raise IdentifierError("ins", "seuls des chiffres sont attendus (2A ou 2B pour la Corse)")
    if cleaned[0] not in "12378":
        raise IdentifierError("ins", "le premier chiffre (sexe) doit être 1, 2, 3, 7 ou 8")
    if int(cleaned[13:]) != compute_ins_key(cleaned[:13]):
        raise IdentifierError("ins", "la clé de contrôle (deux derniers chiffres) ne correspond pas")
    return cleaned


# --- Professionals ----------------------------------------------------------------------------------------
def compute_rpps_key(body: str) -> str:
    return compute_luhn_key(body)


def check_rpps(value: object) -> str:
    cleaned = _digits("rpps", value, 11)
    if cleaned[0] != "1":
        raise IdentifierError("rpps", "il doit commencer par 1")
    return _luhn("rpps", cleaned)


def check_adeli(value: object) -> str:
    """ADELI: 9 characters starting with the département; no public key algorithm, so format only."""
    cleaned = _clean(value)
    if not cleaned:
        raise IdentifierError("adeli", "la valeur est vide")
    if len(cleaned) != 9:
        raise IdentifierError("adeli", f"9 caractères sont attendus, {len(cleaned)} reçus")
    if not _ADELI_RE.match(cleaned):
        raise IdentifierError(
            "adeli", "il doit commencer par un département (2A, 2B, 9A à 9F admis) puis 7 chiffres"
        )
    return cleaned


def check_national_id(value: object) -> str:
    """Identification nationale PP: `8` + RPPS (12 characters) or `0` + ADELI (10 characters)."""
    cleaned = _clean(value)
    if not cleaned:
        raise IdentifierError("national_id", "la valeur est vide")
    prefix, rest = cleaned[0], cleaned[1:]
    try:
        if prefix == "8":
            return "8" + check_rpps(rest)
        if prefix == "0":
            return "0" + check_adeli(rest)
    except IdentifierError as exc:
        inner = FIELD_LABELS[exc.field]
        inner = inner[0].lower() + inner[1:]
        raise IdentifierError(
            "national_id", f"{inner} qu'il contient n'est pas valide ({exc.reason})"
        ) from exc
    raise IdentifierError("national_id", "il doit commencer par 8 (RPPS) ou 0 (ADELI)")


# --- Structures -------------------------------------------------------------------------------------------
def _finess_digits(value: str) -> str:
    # Corsica: 2A/2B weighed as 21/22 for the key, as the open validators do (docs/mssante.md §6, UNVERIFIED).
    return value[:2].replace("2A", "21").replace("2B", "22") + value[2:]


def compute_finess_key(body: str) -> str:
    return compute_luhn_key(_finess_digits(body.upper()))


def check_finess(value: object) -> str:
    cleaned = _clean(value)
    if not cleaned:
        raise IdentifierError("finess", "la valeur est vide")
    if len(cleaned) != 9:
        raise IdentifierError("finess", f"9 caractères sont attendus, {len(cleaned)} reçus")
    if not _FINESS_RE.match(cleaned) or cleaned.startswith("00"):
        raise IdentifierError(
            "finess", "il doit commencer par un département (01 à 98, 2A ou 2B) puis 7 chiffres"
        )
    if not luhn_is_valid(_finess_digits(cleaned)):
        raise IdentifierError("finess", "la clé de contrôle ne correspond pas")
    return cleaned


def compute_siren_key(body: str) -> str:
    return compute_luhn_key(body)


def check_siren(value: object) -> str:
    return _luhn("siren", _digits("siren", value, 9))


def compute_siret_key(body: str) -> str:
    return compute_luhn_key(body)


def check_siret(value: object) -> str:
    """14 digits, Luhn; La Poste establishments (SIREN 356000000) use a digit sum divisible by 5 instead."""
    cleaned = _digits("siret", value, 14)
    if cleaned.startswith(LA_POSTE_SIREN) and cleaned != LA_POSTE_HEADQUARTERS_SIRET:
        if sum(int(digit) for digit in cleaned) % 5 != 0:
            raise IdentifierError("siret", "la clé de contrôle (règle La Poste) ne correspond pas")
        return cleaned
    return _luhn("siret", cleaned)


# --- Boolean forms and Django validators ------------------------------------------------------------------
def _is_valid(check: Callable[[object], str]) -> Callable[[object], bool]:
    def is_valid(value: object) -> bool:
        try:
            check(value)
        except IdentifierError:
            return False
        return True

    is_valid.__name__ = check.__name__.replace("check_", "is_valid_")
    return is_valid


def _validator(check: Callable[[object], str]) -> Callable[[object], None]:
    def validate(value: object) -> None:
        try:
            check(value)
        except IdentifierError as exc:
            raise ValidationError(str(exc), code=f"invalid_{exc.field}") from exc

    validate.__name__ = check.__name__.replace("check_", "validate_")
    return validate


is_valid_ins, validate_ins = _is_valid(check_ins), _validator(check_ins)
is_valid_rpps, validate_rpps = _is_valid(check_rpps), _validator(check_rpps)
is_valid_adeli, validate_adeli = _is_valid(check_adeli), _validator(check_adeli)
is_valid_national_id, validate_national_id = _is_valid(check_national_id), _validator(check_national_id)
is_valid_finess, validate_finess = _is_valid(check_finess), _validator(check_finess)
is_valid_siret, validate_siret = _is_valid(check_siret), _validator(check_siret)
is_valid_siren, validate_siren = _is_valid(check_siren), _validator(check_siren)
