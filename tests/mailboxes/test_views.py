"""Acting in BALs: the list, the switcher, the overview and the journal that names each person."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.mailboxes.current import SESSION_KEY
from apps.mailboxes.models import MailboxMembership
from apps.mailboxes.services import do_suspend_mailbox
from apps.mailboxes.services_members import do_remove_member

pytestmark = pytest.mark.django_db


def test_it_lists_the_bals_a_person_may_use(bob_client, alice_client, cardio_bal, alice_bal, pharmacy_bal):
    page = bob_client.get(reverse("mailboxes:mailbox-list")).content.decode()
    assert "secretariat.cardio@demo.mssante.fr" in page and "alice.martin@" not in page
    assert "pharmacie.centre@" not in page
    page = alice_client.get(reverse("mailboxes:mailbox-list")).content.decode()
    assert "alice.martin@demo.mssante.fr" in page and "secretariat.cardio@demo.mssante.fr" in page


def test_it_lists_bals_in_a_bounded_number_of_queries(
    bob_client, sec_bob, cardio_bal, pharmacy_bal, chu, django_assert_max_num_queries
):
    from apps.mailboxes.services import Address, do_create_organisational_mailbox
    from apps.mailboxes.services_members import do_add_member
    from tests.plugins.bals import DOMAIN

    for index in range(10):
        mailbox = do_create_organisational_mailbox(
            address=Address(f"service{index}", DOMAIN),
            structure=chu,
            responsible=cardio_bal.responsible,
            head_agreement_by="Directeur",
            acting_user=None,
        )
        do_add_member(mailbox, user=sec_bob, role="send", acting_user=None)
    bob_client.post(reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]))
    with django_assert_max_num_queries(12):
        response = bob_client.get(reverse("mailboxes:mailbox-list"))
    assert response.content.decode().count("service") >= 10


def test_it_switches_bal_and_journals_it_under_the_persons_name(bob_client, sec_bob, cardio_bal):
    response = bob_client.post(reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]))
    assert response.status_code == 302
    assert bob_client.session[SESSION_KEY] == cardio_bal.pk
    event = AuditEvent.objects.get(action="mailbox.opened")
    assert (event.actor_id, event.mailbox_id, event.actor_label) == (sec_bob.pk, cardio_bal.pk, sec_bob.email)
    page = bob_client.get(reverse("home")).content.decode()
    assert "data-current-mailbox>secretariat.cardio@demo.mssante.fr" in page


def test_it_shows_the_secretary_in_the_journal_to_the_responsible(bob_client, alice_client, cardio_bal):
    bob_client.post(reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]))
    response = alice_client.get(reverse("mailboxes:mailbox-journal", args=[cardio_bal.pk]))
    page = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Bob Leroy" in page and "Ouverture de la BAL" in page
    assert "Ajout d'un membre" in page


def test_it_hides_the_journal_from_a_plain_member(bob_client, cardio_bal):
    assert bob_client.get(reverse("mailboxes:mailbox-journal", args=[cardio_bal.pk])).status_code == 404
    assert bob_client.get(reverse("mailboxes:mailbox-detail", args=[cardio_bal.pk])).status_code == 200


def test_it_forgets_the_current_bal_when_access_is_withdrawn(bob_client, cardio_bal):
    bob_client.post(reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]))
    do_remove_member(MailboxMembership.objects.get(mailbox=cardio_bal), acting_user=None)
    page = bob_client.get(reverse("mailboxes:mailbox-list")).content.decode()
    assert "secretariat.cardio" not in page
    assert SESSION_KEY not in bob_client.session


def test_it_answers_404_to_members_of_a_suspended_bal(bob_client, cardio_bal):
    do_suspend_mailbox(cardio_bal, acting_user=None)
    assert bob_client.get(reverse("mailboxes:mailbox-detail", args=[cardio_bal.pk])).status_code == 404
    assert bob_client.post(reverse("mailboxes:mailbox-open", args=[cardio_bal.pk])).status_code == 404


def test_it_refuses_an_offsite_redirect_after_switching(bob_client, cardio_bal):
    response = bob_client.post(
        reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]), {"next": "https://evil.test/"}
    )
    assert response["Location"] == reverse("messaging:inbox", args=[cardio_bal.pk])
