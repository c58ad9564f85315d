"""Services: each kind's rules with clear French messages, lifecycle, publication, all journaled."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.annuaire.models import BalAddress
from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox, MailboxStatus
from apps.mailboxes.services import (
    Address,
    do_create_nominative_mailbox,
    do_create_organisational_mailbox,
    do_delete_mailbox,
    do_reactivate_mailbox,
    do_set_liste_rouge,
    do_suspend_mailbox,
    do_transfer_responsibility,
    do_update_mailbox,
)
from tests.factories import UserFactory
from tests.plugins.bals import DOMAIN

pytestmark = pytest.mark.django_db


def _messages(excinfo) -> str:
    return " ".join(excinfo.value.messages)


def test_it_refuses_a_nominative_bal_for_an_account_without_national_id(sec_bob):
    with pytest.raises(ValidationError) as excinfo:
        do_create_nominative_mailbox(owner=sec_bob, address=Address("bob", DOMAIN), acting_user=None)
    assert "identifiant national (RPPS, ADELI ou RPPS+)" in _messages(excinfo)
    assert "Bob Leroy" in _messages(excinfo)
    assert not Mailbox.objects.exists()


def test_it_refuses_a_nominative_bal_for_a_professional_unknown_to_the_annuaire(dr_alice):
    with pytest.raises(ValidationError, match="pas connu de l'annuaire"):
        do_create_nominative_mailbox(owner=dr_alice, address=Address("alice", DOMAIN), acting_user=None)


def test_it_creates_a_nominative_bal_published_and_journaled(alice_bal, alice_professional, dr_alice):
    assert (alice_bal.owner, alice_bal.professional, alice_bal.national_id) == (
        dr_alice,
        alice_professional,
        "810001234565",
    )
    published = BalAddress.objects.get(address=alice_bal.address)
    assert (published.kind, published.professional, published.is_active) == ("PER", alice_professional, True)
    event = AuditEvent.objects.get(action="mailbox.created", mailbox_id=alice_bal.pk)
    assert event.details["changes"]["address"] == {"old": None, "new": "alice.martin@demo.mssante.fr"}


def test_it_refuses_an_organisational_bal_without_responsible(chu):
    with pytest.raises(ValidationError) as excinfo:
        do_create_organisational_mailbox(
            address=Address("accueil", DOMAIN),
            structure=chu,
            responsible=None,
            head_agreement_by="Directeur",
            acting_user=None,
        )
    assert excinfo.value.message_dict == {
        "responsible": ["Un professionnel responsable est obligatoire pour cette BAL."]
    }


def test_it_refuses_a_staff_member_as_responsible(chu, sec_bob):
    with pytest.raises(ValidationError, match="doit être un professionnel doté d'un identifiant national"):
        do_create_organisational_mailbox(
            address=Address("accueil", DOMAIN),
            structure=chu,
            responsible=sec_bob,
            head_agreement_by="Directeur",
            acting_user=None,
        )


def test_it_refuses_an_organisational_bal_without_head_agreement(chu, dr_alice):
    with pytest.raises(ValidationError, match="L'accord du responsable de la structure"):
        do_create_organisational_mailbox(
            address=Address("accueil", DOMAIN),
            structure=chu,
            responsible=dr_alice,
            head_agreement_by="  ",
            acting_user=None,
        )


def test_it_refuses_a_cabinet_without_practitioners(dr_alice):
    with pytest.raises(ValidationError, match="au moins un professionnel du cabinet"):
        do_create_organisational_mailbox(
            address=Address("cabinet", DOMAIN),
            is_cabinet=True,
            responsible=dr_alice,
            head_agreement_by="Dr Martin",
            acting_user=None,
        )


def test_it_creates_a_cabinet_bal_carried_by_its_practitioners(dr_alice, alice_professional):
    mailbox = do_create_organisational_mailbox(
        address=Address("cabinet.martin", DOMAIN),
        is_cabinet=True,
        practitioners=[alice_professional],
        responsible=dr_alice,
        head_agreement_by="Dr Martin",
        acting_user=None,
    )
    assert mailbox.annuaire_kind == "CAB" and mailbox.structure is None
    assert BalAddress.objects.get(address=mailbox.address).professional == alice_professional


def test_it_refuses_a_duplicate_address(alice_bal, chu, dr_alice):
    with pytest.raises(ValidationError) as excinfo:
        do_create_organisational_mailbox(
            address=Address("Alice.Martin", DOMAIN.upper()),
            structure=chu,
            responsible=dr_alice,
            head_agreement_by="Directeur",
            acting_user=None,
        )
    assert excinfo.value.message_dict["local_part"] == [
        "L'adresse « alice.martin@demo.mssante.fr » est déjà utilisée par une autre BAL."
    ]


def test_it_refuses_an_address_on_a_foreign_domain(chu, dr_alice):
    with pytest.raises(ValidationError) as excinfo:
        do_create_organisational_mailbox(
            address=Address("accueil", "gmail.com"),
            structure=chu,
            responsible=dr_alice,
            head_agreement_by="Directeur",
            acting_user=None,
        )
    assert (
        "Le domaine « gmail.com » n'est pas l'un des domaines de l'opérateur"
        in excinfo.value.message_dict["domain"][0]
    )


@pytest.mark.parametrize("local", ["", ".alice", "alice..martin", "alice martin", "élodie", "a@b", "x" * 65])
def test_it_refuses_an_invalid_local_part(chu, dr_alice, local):
    with pytest.raises(ValidationError) as excinfo:
        do_create_organisational_mailbox(
            address=Address(local, DOMAIN),
            structure=chu,
            responsible=dr_alice,
            head_agreement_by="Directeur",
            acting_user=None,
        )
    assert "partie locale" in excinfo.value.message_dict["local_part"][0]


def test_it_refuses_to_rename_an_address(alice_bal, admin_olga):
    with pytest.raises(ValidationError, match="ne peuvent pas être modifiés"):
        do_update_mailbox(alice_bal, address="alice.renamed@demo.mssante.fr", acting_user=admin_olga)
    with pytest.raises(ValidationError, match="ne peuvent pas être modifiés"):
        do_update_mailbox(alice_bal, local_part="alice.renamed", acting_user=admin_olga)
    alice_bal.refresh_from_db()
    assert alice_bal.address == "alice.martin@demo.mssante.fr"


def test_it_marks_an_officine_from_the_directory_sector(pharmacy_bal, cardio_bal):
    assert pharmacy_bal.is_officine is True
    assert cardio_bal.is_officine is False


def test_it_journals_an_edit_with_old_and_new_values(cardio_bal, admin_olga):
    do_update_mailbox(
        cardio_bal, service="Cardiologie interventionnelle", is_officine=False, acting_user=admin_olga
    )
    event = AuditEvent.objects.filter(action="mailbox.updated", mailbox_id=cardio_bal.pk).get()
    assert event.actor_id == admin_olga.pk
    assert event.details["changes"] == {
        "service": {"old": "Cardiologie", "new": "Cardiologie interventionnelle"}
    }
    assert BalAddress.objects.get(address=cardio_bal.address).service == "Cardiologie interventionnelle"


def test_it_suspends_and_reactivates(cardio_bal, admin_olga):
    do_suspend_mailbox(cardio_bal, reason="Départ du service", acting_user=admin_olga)
    cardio_bal.refresh_from_db()
    assert cardio_bal.status == MailboxStatus.SUSPENDED and cardio_bal.suspended_at is not None
    do_reactivate_mailbox(cardio_bal, acting_user=admin_olga)
    cardio_bal.refresh_from_db()
    assert cardio_bal.status == MailboxStatus.ACTIVE and cardio_bal.suspended_at is None
    actions = list(
        AuditEvent.objects.filter(mailbox_id=cardio_bal.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions[-2:] == ["mailbox.suspended", "mailbox.reactivated"]
    suspended = AuditEvent.objects.get(action="mailbox.suspended")
    assert suspended.details["changes"]["status"] == {"old": "active", "new": "suspended"}


def test_it_deletes_a_bal_but_keeps_its_journal_and_withdraws_it(cardio_bal, admin_olga):
    pk = cardio_bal.pk
    do_delete_mailbox(cardio_bal, acting_user=admin_olga)
    assert not Mailbox.objects.filter(pk=pk).exists()
    assert BalAddress.objects.get(address="secretariat.cardio@demo.mssante.fr").is_active is False
    deleted = AuditEvent.objects.get(action="mailbox.deleted", mailbox_id=pk)
    assert deleted.details["members"] == ["bob.leroy@demo.mssante.fr"]
    assert AuditEvent.objects.filter(mailbox_id=pk, action="mailbox.member_added").exists()


def test_it_hides_and_publishes_again_with_liste_rouge(cardio_bal, admin_olga):
    do_set_liste_rouge(cardio_bal, liste_rouge=True, acting_user=admin_olga)
    assert BalAddress.objects.get(address=cardio_bal.address).is_active is False
    do_set_liste_rouge(cardio_bal, liste_rouge=False, acting_user=admin_olga)
    assert BalAddress.objects.get(address=cardio_bal.address).is_active is True
    changes = [
        e.details["changes"]
        for e in AuditEvent.objects.filter(action="mailbox.liste_rouge_changed").order_by("id")
    ]
    assert changes == [
        {"liste_rouge": {"old": False, "new": True}},
        {"liste_rouge": {"old": True, "new": False}},
    ]


def test_it_transfers_responsibility_to_a_professional_only(cardio_bal, charlie, sec_bob, admin_olga):
    with pytest.raises(ValidationError):
        do_transfer_responsibility(cardio_bal, new_responsible=sec_bob, acting_user=admin_olga)
    do_transfer_responsibility(cardio_bal, new_responsible=charlie, acting_user=admin_olga)
    cardio_bal.refresh_from_db()
    assert cardio_bal.responsible == charlie
    event = AuditEvent.objects.get(action="mailbox.responsibility_transferred")
    assert event.details["changes"]["responsible"]["new_label"] == charlie.email


def test_it_lets_a_structure_admin_create_only_in_their_structures(
    struct_admin_sam, chu, other_structure, dr_alice
):
    common = {"responsible": dr_alice, "head_agreement_by": "Directeur", "acting_user": struct_admin_sam}
    mailbox = do_create_organisational_mailbox(address=Address("urgences", DOMAIN), structure=chu, **common)
    assert mailbox.created_by == struct_admin_sam
    with pytest.raises(ValidationError, match="Vous n'administrez pas la structure"):
        do_create_organisational_mailbox(
            address=Address("voisine", DOMAIN), structure=other_structure, **common
        )


def test_it_lets_only_operator_admins_create_nominative_bals(
    struct_admin_sam, admin_olga, alice_professional, dr_alice
):
    with pytest.raises(ValidationError, match="Seul un administrateur de l'opérateur"):
        do_create_nominative_mailbox(
            owner=dr_alice, address=Address("alice", DOMAIN), acting_user=struct_admin_sam
        )
    mailbox = do_create_nominative_mailbox(
        owner=dr_alice, address=Address("alice", DOMAIN), acting_user=admin_olga
    )
    assert mailbox.created_by == admin_olga


def test_it_refuses_a_patient_as_nominative_owner(patient_paul):
    patient_paul.national_id = "810009999999"
    with pytest.raises(ValidationError, match="identifiant national"):
        do_create_nominative_mailbox(owner=patient_paul, address=Address("paul", DOMAIN), acting_user=None)


def test_it_accepts_an_rpps_plus_staff_member(db):
    staff = UserFactory(kind="staff", national_id="RPPSPLUS0042", first_name="Nora", last_name="Blanc")
    mailbox = do_create_nominative_mailbox(
        owner=staff, address=Address("nora.blanc", DOMAIN), acting_user=None
    )
    assert mailbox.professional is None and mailbox.national_id == "RPPSPLUS0042"
