"""Reads of the annuaire app (the directory search itself lives in search.py)."""

from __future__ import annotations

from apps.annuaire.identifiers import IdentifierError, check_finess, check_national_id, check_siret
from apps.annuaire.models import BalAddress, Professional, Structure


def get_professional_by_national_id(national_id: str, *, active_only: bool = True) -> Professional | None:
    """The professional with this `8`+RPPS / `0`+ADELI id, or None (also for a malformed id)."""
    try:
        national_id = check_national_id(national_id)
    except IdentifierError:
        return None
    queryset = Professional.objects.filter(national_id=national_id)
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset.first()


def get_structure_by_finess(finess: str, *, active_only: bool = True) -> Structure | None:
    try:
        finess = check_finess(finess)
    except IdentifierError:
        return None
    queryset = Structure.objects.filter(finess=finess)
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("-is_active", "id").first()


def get_structure_by_siret(siret: str, *, active_only: bool = True) -> Structure | None:
    try:
        siret = check_siret(siret)
    except IdentifierError:
        return None
    queryset = Structure.objects.filter(siret=siret)
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("-is_active", "id").first()


def get_published_bal(address: str) -> BalAddress | None:
    """The active BAL published under this address (imported or hosted here), liste rouge included."""
    return (
        BalAddress.objects.select_related("professional", "structure")
        .filter(address=address.strip().lower(), is_active=True)
        .first()
    )


def find_structures_by_name(name: str, *, limit: int = 6) -> list[Structure]:
    """Active structures whose name contains `name` (an exact name first): the BAL form's structure picker."""
    if len(name) < 3:
        return []
    exact = list(Structure.objects.filter(is_active=True, name__iexact=name)[:limit])
    if len(exact) == 1:
        return exact
    return list(Structure.objects.filter(is_active=True, name__icontains=name).order_by("name")[:limit])
