"""The rules of each kind hold in the database itself: direct ORM writes that break them are refused."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.mailboxes.models import ApplicationCredential, Mailbox, MailboxKind, MailboxMembership

pytestmark = pytest.mark.django_db


def _insert(**fields) -> Mailbox:
    local, domain = fields.pop("address", "test.bal@demo.mssante.fr").split("@")
    with transaction.atomic():
        return Mailbox.objects.create(address=f"{local}@{domain}", local_part=local, domain=domain, **fields)


def test_it_refuses_a_nominative_bal_without_a_national_id(dr_alice, alice_professional):
    with pytest.raises(IntegrityError, match="mailbox_nominative_rules"):
        _insert(kind=MailboxKind.NOMINATIVE, owner=dr_alice, professional=alice_professional, national_id="")


def test_it_refuses_a_nominative_bal_without_owner(alice_professional):
    with pytest.raises(IntegrityError, match="mailbox_nominative_rules"):
        _insert(kind=MailboxKind.NOMINATIVE, professional=alice_professional, national_id="810001234565")


def test_it_refuses_an_rpps_nominative_bal_without_its_annuaire_entry(dr_alice):
    with pytest.raises(IntegrityError, match="mailbox_nominative_rules"):
        _insert(kind=MailboxKind.NOMINATIVE, owner=dr_alice, national_id=dr_alice.national_id)


def test_it_accepts_an_rpps_plus_nominative_bal_without_annuaire_entry(sec_bob):
    mailbox = _insert(kind=MailboxKind.NOMINATIVE, owner=sec_bob, national_id="RPPSPLUS0001")
    assert mailbox.annuaire_kind == "PER"


def test_it_refuses_an_organisational_bal_without_responsible(chu):
    with pytest.raises(IntegrityError, match="mailbox_organisational_rules"):
        _insert(
            kind=MailboxKind.ORGANISATIONAL,
            structure=chu,
            head_agreement_by="Directeur",
            head_agreement_at=timezone.now(),
        )


def test_it_refuses_an_organisational_bal_without_head_agreement(chu, dr_alice):
    with pytest.raises(IntegrityError, match="mailbox_organisational_rules"):
        _insert(kind=MailboxKind.ORGANISATIONAL, structure=chu, responsible=dr_alice)


def test_it_refuses_an_organisational_bal_without_structure_unless_cabinet(dr_alice):
    agreed = {"responsible": dr_alice, "head_agreement_by": "Dr Martin", "head_agreement_at": timezone.now()}
    with pytest.raises(IntegrityError, match="mailbox_organisational_rules"):
        _insert(kind=MailboxKind.ORGANISATIONAL, **agreed)
    assert _insert(kind=MailboxKind.ORGANISATIONAL, is_cabinet=True, **agreed).annuaire_kind == "CAB"


def test_it_refuses_an_applicative_bal_with_a_human_owner(lab, dr_alice):
    with pytest.raises(IntegrityError, match="mailbox_applicative_rules"):
        _insert(kind=MailboxKind.APPLICATIVE, structure=lab, responsible=dr_alice, owner=dr_alice)


def test_it_refuses_a_duplicate_address(alice_bal, chu, dr_alice):
    with pytest.raises(IntegrityError, match="address"):
        _insert(address=alice_bal.address, kind=MailboxKind.APPLICATIVE, structure=chu, responsible=dr_alice)


def test_it_refuses_an_address_that_does_not_match_its_parts(lab, dr_alice):
    with pytest.raises(IntegrityError, match="mailbox_address_parts"), transaction.atomic():
        Mailbox.objects.create(
            address="a@demo.mssante.fr",
            local_part="b",
            domain="demo.mssante.fr",
            kind=MailboxKind.APPLICATIVE,
            structure=lab,
            responsible=dr_alice,
        )


def test_it_refuses_a_raw_update_of_the_address(alice_bal):
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE mailboxes_mailbox SET address = %s, local_part = %s WHERE id = %s",
            ["alice.renamed@demo.mssante.fr", "alice.renamed", alice_bal.pk],
        )
    alice_bal.refresh_from_db()
    assert alice_bal.address == "alice.martin@demo.mssante.fr"


def test_it_refuses_an_orm_change_of_kind(lab_bal):
    mailbox, _secret = lab_bal
    mailbox.kind = MailboxKind.ORGANISATIONAL
    mailbox.head_agreement_by, mailbox.head_agreement_at = "X", timezone.now()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        mailbox.save()


def test_it_refuses_members_outside_organisational_bals(alice_bal, sec_bob):
    with pytest.raises(IntegrityError, match="organisational"), transaction.atomic():
        MailboxMembership.objects.create(mailbox=alice_bal, user=sec_bob)


def test_it_refuses_credentials_outside_applicative_bals(cardio_bal):
    with pytest.raises(IntegrityError, match="applicative"), transaction.atomic():
        ApplicationCredential.objects.create(
            mailbox=cardio_bal, name="x", prefix="bal_x", secret_hash="0" * 64
        )
