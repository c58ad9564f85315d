"""MSS-C addresses: `<matricule INS>@<PATIENT_DOMAIN>` (docs/mssante.md §5), built and parsed here only."""

from __future__ import annotations

from django.conf import settings

from apps.annuaire.identifiers import IdentifierError, check_ins


def patient_domain() -> str:
    return str(getattr(settings, "PATIENT_DOMAIN", "patient.mssante.fr") or "").strip().lower()


def patient_domain_hosted() -> bool:
    """True when this platform holds the patients' inboxes itself (else the national MES does)."""
    return bool(getattr(settings, "PATIENT_DOMAIN_HOSTED", True))


def domain_of(address: str) -> str:
    return (address or "").strip().rpartition("@")[2].lower()


def is_patient_address(address: str) -> bool:
    domain = patient_domain()
    return bool(domain) and domain_of(address) == domain


def patient_address(ins: str) -> str:
    """The address of a checked INS; lowercase like every stored address (Corsican 2A/2B become 2a/2b)."""
    return f"{check_ins(ins).lower()}@{patient_domain()}"


def ins_of_address(address: str) -> str:
    """The INS of a patient address; raises IdentifierError when the local part is no valid INS."""
    local = (address or "").strip().rpartition("@")[0]
    return check_ins(local.upper())


def ins_or_none(address: str) -> str | None:
    try:
        return ins_of_address(address)
    except IdentifierError:
        return None
