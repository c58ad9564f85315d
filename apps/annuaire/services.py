"""Writes of the annuaire app: local publication of the BALs this platform hosts (imports: importer.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.annuaire.identifiers import IdentifierError
from apps.annuaire.lexicon import add_words
from apps.annuaire.models import BalAddress, BalKind, Professional, Source, Structure
from apps.annuaire.search_row import fill_search_columns
from apps.annuaire.text import join_normalized
from apps.audit.services import record_event


class PublicationError(ValueError):
    """A local BAL cannot be published (French message for the user)."""


def _check_publication(
    address: str, kind: str, professional: Professional | None, structure: Structure | None
):
    if kind not in BalKind.values:
        raise PublicationError(f"Type de BAL inconnu : « {kind} ».")
    if "@" not in address:
        raise PublicationError(f"L'adresse « {address} » n'est pas une adresse de messagerie.")
    if kind in (BalKind.PER, BalKind.CAB) and professional is None:
        raise PublicationError("Une BAL personnelle ou de cabinet doit être rattachée à un professionnel.")
    if kind in (BalKind.ORG, BalKind.APP) and structure is None:
        raise PublicationError(
            "Une BAL organisationnelle ou applicative doit être rattachée à une structure."
        )
    existing = BalAddress.objects.filter(address=address, source=Source.IMPORTED, is_active=True).first()
    if existing is not None:
        # The national directory already publishes it through another operator: never take it over.
        raise PublicationError(f"L'adresse « {address} » est déjà publiée dans l'Annuaire Santé.")


def do_publish_local_bal(
    *,
    address: str,
    kind: str,
    professional: Professional | None = None,
    structure: Structure | None = None,
    service: str = "",
    liste_rouge: bool = False,
    acting_user: Any = None,
) -> BalAddress:
    """Publish (or re-publish) a BAL hosted here so the directory search covers it.

    Idempotent on the address: publishing again updates kind, owner, service and liste rouge.
    A liste rouge BAL is recorded but never returned by the search (it is not published).
    """
    address = address.strip().lower()
    _check_publication(address, kind, professional, structure)
    with transaction.atomic():
        bal = BalAddress.objects.select_for_update().filter(address=address).first() or BalAddress(
            address=address
        )
        created = bal.pk is None
        bal.kind, bal.professional, bal.structure = kind, professional, structure
        bal.service, bal.liste_rouge = service, liste_rouge
        bal.source, bal.is_active, bal.dematerialisation = Source.LOCAL, True, True
        bal.updated_at = timezone.now()
        fill_search_columns(bal)
        # People find a hosted BAL by its address too ("secretar…" for secretariat.cardio@…): its local part
        # joins the searched text (issue 14).
        bal.search_text = join_normalized(bal.search_text, address.split("@")[0])
        bal.save()
        add_words([bal.search_text])
        record_event(
            "annuaire.bal_published",
            actor=acting_user,
            target=bal,
            details={"address": address, "kind": kind, "liste_rouge": liste_rouge, "created": created},
        )
    return bal


def do_unpublish_local_bal(address: str, *, acting_user: Any = None) -> BalAddress | None:
    """Withdraw a BAL hosted here from the directory (the row stays, inactive: messages may refer to it)."""
    address = address.strip().lower()
    with transaction.atomic():
        bal = BalAddress.objects.select_for_update().filter(address=address, source=Source.LOCAL).first()
        if bal is None:
            return None
        if bal.is_active:
            bal.is_active = False
            bal.updated_at = timezone.now()
            bal.save(update_fields=["is_active", "updated_at"])
            record_event(
                "annuaire.bal_unpublished", actor=acting_user, target=bal, details={"address": address}
            )
    return bal


def do_register_local_professional(
    *,
    national_id: str,
    last_name: str,
    first_name: str,
    profession_code: str = "",
    profession_label: str = "",
    civility: str = "",
    acting_user: Any = None,
) -> Professional:
    """Record a professional known here before the next import lists them (e.g. a fresh RPPS registration).

    An existing row (imported or local) is returned unchanged: the national directory stays the reference.
    """
    from apps.annuaire.categories import category_for
    from apps.annuaire.identifiers import check_national_id

    try:
        national_id = check_national_id(national_id)
    except IdentifierError as exc:
        raise PublicationError(str(exc)) from exc
    with transaction.atomic():
        professional, created = Professional.objects.get_or_create(
            national_id=national_id,
            defaults={
                "id_type": national_id[0],
                "last_name": last_name,
                "first_name": first_name,
                "civility": civility,
                "profession_code": profession_code,
                "profession_label": profession_label,
                "category": category_for(profession_code, profession_label),
                "source": Source.LOCAL,
            },
        )
        if created:
            record_event(
                "annuaire.professional_registered",
                actor=acting_user,
                target=professional,
                details={"national_id": national_id},
            )
    return professional


def do_import_annuaire(
    path: str,
    *,
    force: bool = False,
    acting_user: Any = None,
    on_progress: Any = None,
    on_reject: Any = None,
):
    """Import one extraction file in a single transaction, audited; a tripped 20 % guard changes nothing.

    Raises DeactivationGuardTripped after rolling back (and journals the refusal), UnknownFormat for a file
    that is neither extraction.
    """
    from apps.annuaire.importer import DeactivationGuardTripped, run_import
    from apps.audit.models import Outcome

    try:
        with transaction.atomic():
            result = run_import(path, force=force, on_progress=on_progress, on_reject=on_reject)
            record_event("annuaire.imported", actor=acting_user, target_type="annuaire.import",
                         details=result.as_details())  # fmt: skip
    except DeactivationGuardTripped as exc:
        record_event(
            "annuaire.import_refused",
            actor=acting_user,
            target_type="annuaire.import",
            outcome=Outcome.FAILURE,
            details={**exc.result.as_details(), "reason": "deactivation_guard", "entity": exc.entity},
        )
        raise
    return result


def do_log_directory_query(*, acting_user: Any, criteria: dict[str, str], via: str) -> None:
    """Journal one directory query: who asked, through which entry point, and the criteria (no results)."""
    with transaction.atomic():
        record_event("annuaire.searched", actor=acting_user, target_type="annuaire.search",
                     details={"via": via, "criteria": criteria})  # fmt: skip
