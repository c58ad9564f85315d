"""Validation of the address of a new BAL: a dot-atom local part (RFC 5321), lowercase, on one of our domains.

Raw-input entry points are `check_*` (design.md): they return the cleaned value or raise a ValidationError
keyed by the form field it concerns, with a French message that names the field.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError

# RFC 5322 atext; dot-atom = atext+ ("." atext+)*. Quoted local parts are legal but refused: other
# operators' software and the directory handle them badly, and nobody needs them for a BAL.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254


def operator_domains() -> list[str]:
    return [domain.strip().lower() for domain in settings.OPERATOR_DOMAINS if domain.strip()]


def check_local_part(value: str) -> str:
    local = (value or "").strip().lower()
    if not local:
        raise ValidationError({"local_part": "La partie locale de l'adresse (avant « @ ») est obligatoire."})
    if len(local) > MAX_LOCAL_PART:
        raise ValidationError(
            {"local_part": f"La partie locale de l'adresse dépasse {MAX_LOCAL_PART} caractères."}
        )
    if not _DOT_ATOM.match(local):
        raise ValidationError(
            {
                "local_part": f"La partie locale « {local} » n'est pas valide : utilisez des lettres sans "
                "accent, des chiffres, des points (ni au début, ni à la fin, ni doublés) et des tirets."
            }
        )
    return local


def check_domain(value: str) -> str:
    domain = (value or "").strip().lower()
    if domain not in operator_domains():
        raise ValidationError(
            {
                "domain": f"Le domaine « {domain} » n'est pas l'un des domaines de l'opérateur "
                f"({', '.join(operator_domains())})."
            }
        )
    return domain


def check_address(local_part: str, domain: str) -> tuple[str, str, str]:
    """(address, local part, domain), cleaned, or a ValidationError naming the faulty field."""
    local, dom = check_local_part(local_part), check_domain(domain)
    address = f"{local}@{dom}"
    if len(address) > MAX_ADDRESS:
        raise ValidationError({"local_part": f"L'adresse dépasse {MAX_ADDRESS} caractères."})
    return address, local, dom


def split_address(address: str) -> tuple[str, str]:
    """("local", "domain") of a full address typed in one field (CSV import)."""
    local, sep, domain = (address or "").strip().rpartition("@")
    if not sep or not local:
        raise ValidationError({"address": f"« {address} » n'est pas une adresse de messagerie complète."})
    return local, domain
