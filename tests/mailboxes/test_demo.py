"""The demo of `make run` gives the personas their BALs, and seeding twice changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.annuaire.models import BalAddress
from apps.mailboxes.models import ApplicationCredential, Mailbox, MailboxMembership, StructureAdmin
from apps.mailboxes.policies import access_mailbox, can_manage_mailbox
from apps.mailboxes.selectors import list_mailboxes_for

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _state() -> list:
    return [
        sorted(
            Mailbox.objects.values_list("address", "kind", "is_officine", "structure_id", "responsible_id")
        ),
        sorted(MailboxMembership.objects.values_list("mailbox__address", "user__email", "role")),
        ApplicationCredential.objects.count(),
        StructureAdmin.objects.count(),
    ]


def test_it_seeds_the_personas_bals_idempotently(django_user_model):
    output = _seed()
    users = {user.email.split("@")[0]: user for user in django_user_model.objects.all()}
    alice, bob, ines, olga = (
        users["alice.martin"],
        users["bob.leroy"],
        users["ines.roux"],
        users["olga.admin"],
    )

    nominative = Mailbox.objects.get(address="alice.martin@demo.mssante.fr")
    assert nominative.owner == alice and nominative.professional.national_id == alice.national_id
    cardio = Mailbox.objects.get(address="secretariat.cardio@demo.mssante.fr")
    assert cardio.responsible == alice and cardio.head_agreement_at is not None
    assert access_mailbox(bob, cardio, for_write=True) == cardio
    assert {one.mailbox.address for one in list_mailboxes_for(bob)} == {cardio.address}
    officine = Mailbox.objects.get(address="pharmacie@demo.mssante.fr")
    assert officine.is_officine and officine.structure.is_officine
    assert access_mailbox(ines, officine, for_write=True) == officine
    lab = Mailbox.objects.get(address="noreply-biologie@demo.mssante.fr")
    assert lab.kind == "applicative" and lab.credentials.count() == 1
    assert "bal_" not in output  # the API secret is never printed (issue 14)
    assert "créez un identifiant logiciel" in output
    assert can_manage_mailbox(olga, cardio) and can_manage_mailbox(alice, cardio)
    assert StructureAdmin.objects.filter(user=alice, structure=cardio.structure).exists()
    assert BalAddress.objects.filter(address=cardio.address, is_active=True, source="local").exists()

    before = _state()
    _seed()
    assert _state() == before
