"""BAL fixtures for every test: directory entries, the demo BALs of the personas, a structure admin."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User, UserKind
from apps.annuaire.identifiers import compute_finess_key, compute_siret_key
from apps.annuaire.models import Professional, Source, Structure
from apps.mailboxes.models import Mailbox, MemberRole
from apps.mailboxes.services import (
    Address,
    do_create_applicative_mailbox,
    do_create_nominative_mailbox,
    do_create_organisational_mailbox,
)
from apps.mailboxes.services_members import do_add_member, do_add_structure_admin
from tests.factories import UserFactory, enrol_totp

DOMAIN = "demo.mssante.fr"


def finess(body: str) -> str:
    return body + compute_finess_key(body)


def siret(body: str) -> str:
    return body + compute_siret_key(body)


def make_structure(
    name: str, finess_body: str = "", siret_body: str = "", *, officine: bool = False
) -> Structure:
    code_finess = finess(finess_body) if finess_body else ""
    code_siret = siret(siret_body) if siret_body else ""
    return Structure.objects.create(
        idnat=("1" + code_finess) if code_finess else ("3" + code_siret),
        finess=code_finess,
        siret=code_siret,
        name=name,
        is_officine=officine,
        sector_code="SA33" if officine else "SA01",
        source=Source.LOCAL,
    )


def professional_for(user: User) -> Professional:
    return Professional.objects.create(
        national_id=user.national_id,
        id_type=user.national_id[0],
        first_name=user.first_name,
        last_name=user.last_name,
        profession_code="10",
        profession_label="Médecin",
        source=Source.LOCAL,
    )


@pytest.fixture
def chu(db) -> Structure:
    return make_structure("CHU DE DEMONSTRATION", finess_body="75000001")


@pytest.fixture
def pharmacy(db) -> Structure:
    return make_structure("PHARMACIE DU CENTRE", finess_body="75000002", officine=True)


@pytest.fixture
def lab(db) -> Structure:
    return make_structure("LABORATOIRE DE BIOLOGIE", siret_body="3620000000001")


@pytest.fixture
def other_structure(db) -> Structure:
    return make_structure("CLINIQUE VOISINE", finess_body="69000003")


@pytest.fixture
def alice_professional(dr_alice) -> Professional:
    return professional_for(dr_alice)


@pytest.fixture
def alice_bal(dr_alice, alice_professional) -> Mailbox:
    return do_create_nominative_mailbox(
        owner=dr_alice, address=Address("alice.martin", DOMAIN), acting_user=None
    )


@pytest.fixture
def cardio_bal(chu, dr_alice, sec_bob) -> Mailbox:
    mailbox = do_create_organisational_mailbox(
        address=Address("secretariat.cardio", DOMAIN),
        structure=chu,
        responsible=dr_alice,
        head_agreement_by="Directeur du CHU",
        service="Cardiologie",
        display_name="Secrétariat de cardiologie",
        acting_user=None,
    )
    do_add_member(mailbox, user=sec_bob, role=MemberRole.SEND, acting_user=None)
    return mailbox


@pytest.fixture
def pharmacy_bal(pharmacy, pharma_ines) -> Mailbox:
    mailbox = do_create_organisational_mailbox(
        address=Address("pharmacie.centre", DOMAIN),
        structure=pharmacy,
        responsible=pharma_ines,
        head_agreement_by="Titulaire de l'officine",
        acting_user=None,
    )
    do_add_member(mailbox, user=pharma_ines, role=MemberRole.MANAGE, acting_user=None)
    return mailbox


@pytest.fixture
def lab_bal(lab, dr_alice) -> tuple[Mailbox, str]:
    return do_create_applicative_mailbox(
        address=Address("noreply-biologie", DOMAIN), structure=lab, responsible=dr_alice, acting_user=None
    )


@pytest.fixture
def struct_admin_sam(chu) -> User:
    """Sam, who administers the CHU's BALs (and nothing else)."""
    user = UserFactory(
        email="sam.admin@chu-demo.mssante.fr",
        first_name="Sam",
        last_name="Girard",
        kind=UserKind.STAFF,
        national_id="",
    )
    user.totp_secret = enrol_totp(user)  # type: ignore[attr-defined]
    do_add_structure_admin(chu, user=user, acting_user=None)
    return user


@pytest.fixture
def sam_client(struct_admin_sam) -> Client:
    client = Client()
    client.force_login(struct_admin_sam)
    return client


@pytest.fixture
def ines_client(pharma_ines) -> Client:
    client = Client()
    client.force_login(pharma_ines)
    return client
