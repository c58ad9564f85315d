"""Demo data of `make run` (seed_demo calls `seed` after the annuaire and trust seeders): the personas' BALs.

- Alice: her nominative BAL, registered in the annuaire if the demo directory does not list her;
- the cardiology secretariat of a hospital from the demo directory: organisational, Alice responsible and
  manager (and administrator of the hospital's BALs), Bob member with the "send" role;
- a pharmacy from the demo directory (sector SA33): organisational, marked officine, Inès member (manage);
- a laboratory's applicative BAL with one software credential (printed once).
Idempotent: what exists is left as is. Olga is an operator admin by her account kind.
"""

from __future__ import annotations

from typing import Any, TextIO

from django.db.models import Q

from apps.accounts.models import User
from apps.annuaire.models import Structure
from apps.annuaire.selectors import get_professional_by_national_id
from apps.annuaire.services import do_register_local_professional
from apps.mailboxes.addresses import operator_domains
from apps.mailboxes.models import Mailbox, MailboxMembership, MemberRole
from apps.mailboxes.services import (
    Address,
    do_create_applicative_mailbox,
    do_create_nominative_mailbox,
    do_create_organisational_mailbox,
)
from apps.mailboxes.services_members import do_add_member, do_add_structure_admin


def _structure(*filters: Q) -> Structure | None:
    """The first active directory structure matching, in a stable order (same one at every run)."""
    for condition in filters:
        found = (
            Structure.objects.filter(condition, is_active=True)
            .exclude(finess="")
            .order_by("name", "id")
            .first()
        )
        if found is not None:
            return found
    return None


def _member(mailbox: Mailbox, user: User, role: str) -> None:
    if not MailboxMembership.objects.filter(mailbox=mailbox, user=user).exists():
        do_add_member(mailbox, user=user, role=role, acting_user=None)


def _alice_bal(alice: User, domain: str, stdout: TextIO) -> None:
    if get_professional_by_national_id(alice.national_id) is None:
        do_register_local_professional(
            national_id=alice.national_id,
            last_name="MARTIN",
            first_name="Alice",
            civility="DR",
            profession_code="10",
            profession_label="Médecin",
        )
    address = f"alice.martin@{domain}"
    if not Mailbox.objects.filter(address=address).exists():
        do_create_nominative_mailbox(owner=alice, address=Address("alice.martin", domain), acting_user=None)
    stdout.write(f"BAL nominative : {address}\n")


def _org_bal(local: str, domain: str, structure: Structure, responsible: User, **extra: Any) -> Mailbox:
    existing = Mailbox.objects.filter(address=f"{local}@{domain}").first()
    if existing is not None:
        return existing
    return do_create_organisational_mailbox(
        address=Address(local, domain),
        structure=structure,
        responsible=responsible,
        head_agreement_by="Direction de l'établissement",
        head_agreement_reference="Accord de démonstration",
        acting_user=None,
        **extra,
    )


def _lab_bal(domain: str, structure: Structure, responsible: User, stdout: TextIO) -> None:
    address = f"noreply-biologie@{domain}"
    if Mailbox.objects.filter(address=address).exists():
        stdout.write(f"BAL applicative : {address} (identifiant logiciel déjà créé)\n")
        return
    _mailbox, _token = do_create_applicative_mailbox(
        address=Address("noreply-biologie", domain),
        structure=structure,
        responsible=responsible,
        credential_name="Logiciel du laboratoire",
        display_name="Résultats de biologie",
        service="Biologie",
        acting_user=None,
    )
    stdout.write(
        # The API secret is never printed (terminal scrollback, CI logs): create one from the BAL's page.
        f"BAL applicative : {address} ({structure}) ; pour utiliser son API, créez un identifiant logiciel "
        "depuis « Gestion des BAL ».\n"
    )


def seed(stdout: TextIO) -> None:
    domain = operator_domains()[0]
    users = {user.email: user for user in User.objects.filter(email__endswith="@demo.mssante.fr")}
    alice, bob = users.get("alice.martin@demo.mssante.fr"), users.get("bob.leroy@demo.mssante.fr")
    ines = users.get("ines.roux@demo.mssante.fr")
    if alice is None or bob is None or ines is None:
        stdout.write("Personas absents : lancez d'abord seed_demo (personas).\n")
        return
    _alice_bal(alice, domain, stdout)
    hospital = _structure(Q(name__startswith="CENTRE HOSPITALIER"), Q(name__startswith="CLINIQUE"), Q())
    pharmacy = _structure(Q(is_officine=True), Q(name__startswith="PHARMACIE"))
    lab = _structure(Q(name__icontains="LABO"), Q(name__icontains="BIOLOGIE"), Q(name__startswith="CLINIQUE"))
    if hospital is None or pharmacy is None or lab is None:
        stdout.write("Annuaire de démonstration absent : BAL de structures non créées.\n")
        return
    cardio = _org_bal(
        "secretariat.cardio",
        domain,
        hospital,
        alice,
        service="Cardiologie",
        display_name="Secrétariat de cardiologie",
    )
    _member(cardio, bob, MemberRole.SEND)
    _member(cardio, alice, MemberRole.MANAGE)
    do_add_structure_admin(hospital, user=alice, acting_user=None)
    stdout.write(f"BAL organisationnelle : {cardio.address} ({hospital}), Bob membre, Alice responsable\n")
    officine = _org_bal("pharmacie", domain, pharmacy, ines, display_name=str(pharmacy), is_officine=True)
    _member(officine, ines, MemberRole.MANAGE)
    stdout.write(f"BAL d'officine : {officine.address} ({pharmacy}), Inès membre\n")
    _lab_bal(domain, lab, alice, stdout)
