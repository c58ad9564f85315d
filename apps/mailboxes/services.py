"""Writes of the mailboxes app: creating BALs of each kind, their lifecycle, liste rouge and publication.

Every `do_*` runs in one transaction and journals its change with old and new values (`details.changes`)
under the acting person and the BAL. Members, credentials and structure admins: services_members.py.
`acting_user=None` means the platform itself (demo seeding, management commands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import UserKind
from apps.annuaire.identifiers import IdentifierError, check_national_id
from apps.annuaire.models import Professional, Source, Structure
from apps.annuaire.selectors import get_professional_by_national_id, get_published_bal
from apps.annuaire.services import PublicationError, do_publish_local_bal, do_unpublish_local_bal
from apps.audit.services import changes, record_event
from apps.mailboxes.addresses import check_address
from apps.mailboxes.models import (
    ANNUAIRE_ID_REGEX,
    CabinetPractitioner,
    Mailbox,
    MailboxKind,
    MailboxStatus,
)
from apps.mailboxes.policies import can_administer_structure, is_operator_admin

EDITABLE_FIELDS = {
    "display_name",
    "service",
    "is_officine",
    "head_agreement_by",
    "head_agreement_reference",
    "imap_allowed",
}
IMMUTABLE_FIELDS = {"address", "local_part", "domain", "kind"}


@dataclass(frozen=True)
class Address:
    local_part: str
    domain: str


def _person(user: Any) -> str:
    return (user.get_full_name() or user.email) if user is not None else ""


def _check_acting_admin(acting_user: Any, structure: Structure | None) -> None:
    if acting_user is None:
        return
    if structure is None:
        if not is_operator_admin(acting_user):
            raise ValidationError("Seul un administrateur de l'opérateur peut créer ce type de BAL.")
    elif not can_administer_structure(acting_user, structure):
        raise ValidationError({"structure": f"Vous n'administrez pas la structure « {structure} »."})


def _check_free(address: str) -> None:
    if Mailbox.objects.filter(address=address).exists():
        raise ValidationError({"local_part": f"L'adresse « {address} » est déjà utilisée par une autre BAL."})
    published = get_published_bal(address)
    if published is not None and published.source == Source.IMPORTED:
        raise ValidationError(
            {
                "local_part": f"L'adresse « {address} » est déjà publiée dans l'Annuaire Santé par un "
                "autre opérateur."
            }
        )


def check_responsible(user: Any) -> Any:
    """A responsible professional: a professional account with a national id (RPPS or ADELI)."""
    if user is None:
        raise ValidationError({"responsible": "Un professionnel responsable est obligatoire pour cette BAL."})
    if user.kind != UserKind.PROFESSIONAL or not user.national_id:
        raise ValidationError(
            {
                "responsible": f"{_person(user)} ne peut pas être responsable : le responsable doit être un "
                "professionnel doté d'un identifiant national (RPPS ou ADELI)."
            }
        )
    return user


def check_nominative_owner(owner: Any) -> tuple[str, Professional | None]:
    """(national id, annuaire professional) of the holder of a nominative BAL, or a French refusal."""
    if owner is None:
        raise ValidationError({"owner": "Une BAL nominative doit avoir un titulaire."})
    national_id = (owner.national_id or "").strip()
    if owner.kind not in (UserKind.PROFESSIONAL, UserKind.STAFF) or not national_id:
        raise ValidationError(
            {
                "owner": f"Une BAL nominative appartient à un professionnel doté d'un identifiant national "
                f"(RPPS, ADELI ou RPPS+) : le compte de {_person(owner)} n'en a pas."
            }
        )
    if not _needs_annuaire_entry(national_id):
        return national_id, None  # RPPS+: staff registered outside the annuaire
    try:
        national_id = check_national_id(national_id)
    except IdentifierError as exc:
        raise ValidationError(
            {"owner": f"Identifiant national de {_person(owner)} invalide : {exc}"}
        ) from exc
    professional = get_professional_by_national_id(national_id)
    if professional is None:
        raise ValidationError(
            {
                "owner": f"L'identifiant national {national_id} de {_person(owner)} n'est pas connu de "
                "l'annuaire : enregistrez d'abord le professionnel."
            }
        )
    return national_id, professional


def _needs_annuaire_entry(national_id: str) -> bool:
    import re

    return re.match(ANNUAIRE_ID_REGEX, national_id) is not None


def _insert_new(checked: tuple[str, str, str], kind: str, acting_user: Any, **fields: Any) -> Mailbox:
    """Insert a BAL of this kind at an address `check_address` returned, unless a BAL or another operator
    holds it; call inside the caller's transaction."""
    full, local, domain = checked
    _check_free(full)
    mailbox = Mailbox(address=full, local_part=local, domain=domain, kind=kind, **fields)
    return _save_new(mailbox, acting_user)


def _save_new(mailbox: Mailbox, acting_user: Any) -> Mailbox:
    mailbox.created_by = acting_user if acting_user is not None and acting_user.is_authenticated else None
    mailbox.created_at = timezone.now()
    try:
        with transaction.atomic():
            mailbox.save()
    except IntegrityError as exc:  # a concurrent creation took the address between check and insert
        raise ValidationError({"local_part": f"L'adresse « {mailbox.address} » est déjà utilisée."}) from exc
    return mailbox


def _created(mailbox: Mailbox, acting_user: Any, fields: list[str]) -> None:
    blank = Mailbox()
    new = {field: getattr(mailbox, field) for field in fields}
    for field in fields:
        setattr(blank, field, None)
    record_event(
        "mailbox.created",
        actor=acting_user,
        mailbox=mailbox,
        target=mailbox,
        details={"kind": mailbox.annuaire_kind, "changes": changes(blank, new)},
    )
    publish_mailbox(mailbox, acting_user=acting_user)


_COMMON = ["address", "kind", "display_name", "service", "liste_rouge"]


def do_create_nominative_mailbox(
    *, owner: Any, address: Address, display_name: str = "", liste_rouge: bool = False, acting_user: Any
) -> Mailbox:
    checked = check_address(address.local_part, address.domain)
    national_id, professional = check_nominative_owner(owner)
    _check_acting_admin(acting_user, None)
    with transaction.atomic():
        mailbox = _insert_new(
            checked,
            MailboxKind.NOMINATIVE,
            acting_user,
            owner=owner,
            national_id=national_id,
            professional=professional,
            liste_rouge=liste_rouge,
            display_name=display_name or _person(owner),
        )
        _created(mailbox, acting_user, [*_COMMON, "owner", "national_id"])
    return mailbox


def _check_organisation(
    structure: Structure | None, practitioners: list[Professional], is_cabinet: bool
) -> None:
    if is_cabinet:
        if not practitioners:
            raise ValidationError(
                {
                    "practitioners": "Une BAL de cabinet indique le RPPS d'au moins un professionnel "
                    "du cabinet."
                }
            )
    elif structure is None:
        raise ValidationError({"structure": "Une BAL organisationnelle doit être rattachée à une structure."})


def _check_head_agreement(head_agreement_by: str) -> str:
    head = (head_agreement_by or "").strip()
    if not head:
        raise ValidationError(
            {"head_agreement_by": "L'accord du responsable de la structure doit être recueilli et nommé."}
        )
    return head


def do_create_organisational_mailbox(
    *,
    address: Address,
    responsible: Any,
    head_agreement_by: str,
    structure: Structure | None = None,
    is_cabinet: bool = False,
    practitioners: list[Professional] | None = None,
    head_agreement_reference: str = "",
    display_name: str = "",
    service: str = "",
    is_officine: bool | None = None,
    liste_rouge: bool = False,
    acting_user: Any,
) -> Mailbox:
    checked = check_address(address.local_part, address.domain)
    check_responsible(responsible)
    practitioners = list(practitioners or [])
    _check_organisation(structure, practitioners, is_cabinet)
    head = _check_head_agreement(head_agreement_by)
    _check_acting_admin(acting_user, None if is_cabinet else structure)
    with transaction.atomic():
        mailbox = _insert_new(
            checked,
            MailboxKind.ORGANISATIONAL,
            acting_user,
            is_cabinet=is_cabinet,
            structure=None if is_cabinet else structure,
            responsible=responsible,
            head_agreement_by=head,
            head_agreement_at=timezone.now(),
            head_agreement_reference=head_agreement_reference.strip(),
            display_name=display_name.strip(),
            service=service.strip(),
            liste_rouge=liste_rouge,
            # Officine by default when the directory classifies the structure as one (sector SA33).
            is_officine=bool(structure.is_officine if is_officine is None and structure else is_officine),
        )
        CabinetPractitioner.objects.bulk_create(
            [CabinetPractitioner(mailbox=mailbox, professional=one) for one in practitioners]
        )
        fields = [*_COMMON, "structure", "responsible", "is_cabinet", "is_officine", "head_agreement_by"]
        _created(mailbox, acting_user, fields)
    return mailbox


def do_create_applicative_mailbox(
    *,
    address: Address,
    structure: Structure | None,
    responsible: Any,
    credential_name: str = "Logiciel",
    display_name: str = "",
    service: str = "",
    liste_rouge: bool = False,
    acting_user: Any,
) -> tuple[Mailbox, str]:
    """Create the BAL and its first software credential; the secret is returned once, never stored."""
    from apps.mailboxes.services_members import do_create_credential

    checked = check_address(address.local_part, address.domain)
    if structure is None:
        raise ValidationError({"structure": "Une BAL applicative doit être rattachée à une structure."})
    check_responsible(responsible)
    _check_acting_admin(acting_user, structure)
    with transaction.atomic():
        mailbox = _insert_new(
            checked,
            MailboxKind.APPLICATIVE,
            acting_user,
            structure=structure,
            responsible=responsible,
            display_name=display_name.strip(),
            service=service.strip(),
            liste_rouge=liste_rouge,
        )
        _created(mailbox, acting_user, [*_COMMON, "structure", "responsible"])
        _credential, secret = do_create_credential(mailbox, name=credential_name, acting_user=acting_user)
    return mailbox, secret


def publish_mailbox(mailbox: Mailbox, *, acting_user: Any) -> None:
    """Bring the directory in line with the BAL: published, or withdrawn when on the liste rouge."""
    if mailbox.liste_rouge:
        do_unpublish_local_bal(mailbox.address, acting_user=acting_user)
        return
    professional = mailbox.professional
    if mailbox.kind == MailboxKind.NOMINATIVE and professional is None:
        return  # RPPS+ holder: no directory entry to carry the BAL (docs/decisions/0006-mailboxes.md)
    if mailbox.is_cabinet:
        professional = mailbox.practitioners.order_by("national_id").first()
    try:
        do_publish_local_bal(
            address=mailbox.address,
            kind=mailbox.annuaire_kind,
            professional=professional,
            structure=mailbox.structure,
            service=mailbox.service,
            acting_user=acting_user,
        )
    except PublicationError as exc:
        raise ValidationError(str(exc)) from exc


def _locked(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.select_for_update(of=("self",)).select_related("structure").get(pk=mailbox.pk)


def do_set_structure_imap(structure: Structure, *, allowed: bool, acting_user: Any) -> Structure:
    """Open or close every BAL of a structure to IMAP (mail clients, practice software); the webmail stays
    open. Structure and operator admins only. Live IMAP sessions that lose a BAL end within seconds."""
    if acting_user is not None and not can_administer_structure(acting_user, structure):
        raise ValidationError(f"Vous n'administrez pas la structure « {structure} ».")
    with transaction.atomic():
        structure = Structure.objects.select_for_update().get(pk=structure.pk)
        diff = changes(structure, {"imap_allowed": allowed})
        if not diff:
            return structure
        structure.imap_allowed = allowed
        structure.save(update_fields=["imap_allowed"])
        record_event(
            "mailbox.structure_imap_changed",
            actor=acting_user,
            target=structure,
            details={"changes": diff, "structure": str(structure)},
        )
    return structure


def do_update_mailbox(mailbox: Mailbox, *, acting_user: Any, **values: Any) -> Mailbox:
    """Change display name, service, officine flag or the head's agreement; never the address or kind."""
    if IMMUTABLE_FIELDS & values.keys():
        raise ValidationError(
            {
                "address": "L'adresse et le type d'une BAL ne peuvent pas être modifiés : "
                "créez une nouvelle BAL."
            }
        )
    unknown = values.keys() - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f"Champs non modifiables : {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        mailbox = _locked(mailbox)
        if mailbox.kind != MailboxKind.ORGANISATIONAL:
            if values.get("is_officine"):
                raise ValidationError(
                    {"is_officine": "Seule une BAL organisationnelle peut être une officine."}
                )
            values.pop("is_officine", None)
        if mailbox.kind == MailboxKind.ORGANISATIONAL and "head_agreement_by" in values:
            values["head_agreement_by"] = _check_head_agreement(values["head_agreement_by"])
        diff = changes(mailbox, values)
        if not diff:
            return mailbox
        for field, value in values.items():
            setattr(mailbox, field, value)
        mailbox.save(update_fields=list(diff))
        record_event(
            "mailbox.updated", actor=acting_user, mailbox=mailbox, target=mailbox, details={"changes": diff}
        )
        if "service" in diff and not mailbox.liste_rouge:
            publish_mailbox(mailbox, acting_user=acting_user)
    return mailbox


def _set_status(mailbox: Mailbox, status: str, *, reason: str, acting_user: Any, action: str) -> Mailbox:
    with transaction.atomic():
        mailbox = _locked(mailbox)
        if mailbox.status == status:
            return mailbox
        suspended_at = timezone.now() if status == MailboxStatus.SUSPENDED else None
        new = {"status": status, "suspended_at": suspended_at, "suspension_reason": reason.strip()}
        diff = changes(mailbox, new)
        for field, value in new.items():
            setattr(mailbox, field, value)
        mailbox.save(update_fields=list(new))
        record_event(action, actor=acting_user, mailbox=mailbox, target=mailbox, details={"changes": diff})
    return mailbox


def do_suspend_mailbox(mailbox: Mailbox, *, reason: str = "", acting_user: Any) -> Mailbox:
    """Close the BAL to its users (it stays in the directory and keeps its data) until reactivated."""
    return _set_status(
        mailbox, MailboxStatus.SUSPENDED, reason=reason, acting_user=acting_user, action="mailbox.suspended"
    )


def do_reactivate_mailbox(mailbox: Mailbox, *, acting_user: Any) -> Mailbox:
    return _set_status(
        mailbox, MailboxStatus.ACTIVE, reason="", acting_user=acting_user, action="mailbox.reactivated"
    )


def do_delete_mailbox(mailbox: Mailbox, *, acting_user: Any) -> None:
    """Delete the BAL (memberships, credentials go with it) and withdraw it; its journal stays."""
    with transaction.atomic():
        mailbox = _locked(mailbox)
        snapshot = {
            "address": mailbox.address,
            "kind": mailbox.annuaire_kind,
            "members": list(mailbox.memberships.values_list("user__email", flat=True)),
        }
        do_unpublish_local_bal(mailbox.address, acting_user=acting_user)
        record_event("mailbox.deleted", actor=acting_user, mailbox=mailbox, target=mailbox, details=snapshot)
        mailbox.delete()


def do_set_liste_rouge(mailbox: Mailbox, *, liste_rouge: bool, acting_user: Any) -> Mailbox:
    """Hide the BAL from the directory (liste rouge) or publish it again."""
    with transaction.atomic():
        mailbox = _locked(mailbox)
        diff = changes(mailbox, {"liste_rouge": liste_rouge})
        if not diff:
            return mailbox
        mailbox.liste_rouge = liste_rouge
        mailbox.save(update_fields=["liste_rouge"])
        record_event(
            "mailbox.liste_rouge_changed",
            actor=acting_user,
            mailbox=mailbox,
            target=mailbox,
            details={"changes": diff},
        )
        publish_mailbox(mailbox, acting_user=acting_user)
    return mailbox


def do_transfer_responsibility(mailbox: Mailbox, *, new_responsible: Any, acting_user: Any) -> Mailbox:
    with transaction.atomic():
        mailbox = _locked(mailbox)
        if mailbox.kind == MailboxKind.NOMINATIVE:
            raise ValidationError(
                {"responsible": "Une BAL nominative n'a pas de responsable : son titulaire."}
            )
        check_responsible(new_responsible)
        diff = changes(mailbox, {"responsible": new_responsible})
        if not diff:
            return mailbox
        diff["responsible"]["old_label"] = mailbox.responsible.email if mailbox.responsible else ""
        diff["responsible"]["new_label"] = new_responsible.email
        mailbox.responsible = new_responsible
        mailbox.save(update_fields=["responsible"])
        record_event(
            "mailbox.responsibility_transferred",
            actor=acting_user,
            mailbox=mailbox,
            target=mailbox,
            details={"changes": diff},
        )
    return mailbox


def do_record_mailbox_opened(mailbox: Mailbox, *, acting_user: Any) -> None:
    """Journal that a person switched to (opened) a BAL: the journal shows who acted, under their name."""
    with transaction.atomic():
        record_event("mailbox.opened", actor=acting_user, mailbox=mailbox, target=mailbox)
        Mailbox.objects.filter(pk=mailbox.pk).update(last_activity_at=timezone.now())


def do_record_fhir_export(*, acting_user: Any, count: int, filters: dict[str, str]) -> None:
    """Journal an export of BALs in the directory publication shape (who exported what)."""
    with transaction.atomic():
        record_event(
            "mailbox.fhir_exported",
            actor=acting_user,
            target_type="mailboxes.export",
            details={"count": count, "filters": filters},
        )


def do_create_patient_mailbox(*, owner: Any, address: str, acting_user: Any) -> Mailbox:
    """The inbox of an MSS-C patient hosted here (apps.patients creates it with the profile).

    Never published in the annuaire: a patient's address is not a professional directory entry.
    """
    local_part, _, domain = address.lower().partition("@")
    with transaction.atomic():
        _check_free(f"{local_part}@{domain}")
        mailbox = _save_new(
            Mailbox(
                address=f"{local_part}@{domain}",
                local_part=local_part,
                domain=domain,
                kind=MailboxKind.PATIENT,
                owner=owner,
                display_name=owner.get_full_name(),
                liste_rouge=True,
            ),
            acting_user,
        )
        record_event(
            "mailbox.created", actor=acting_user, mailbox=mailbox, target=mailbox, details={"kind": "PAT"}
        )
    return mailbox
