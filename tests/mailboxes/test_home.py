"""The home page lists the BALs a person may use and the shortcuts their role allows."""

from django.urls import reverse


def test_it_lists_the_bals_bob_may_use_and_no_admin_shortcut(bob_client, cardio_bal):
    page = bob_client.get(reverse("home")).content.decode()
    assert cardio_bal.address in page
    assert reverse("mailboxes:mailbox-open", args=[cardio_bal.pk]) in page
    assert reverse("confiance:liste-blanche") not in page
    assert reverse("audit:event-list") not in page


def test_it_tells_a_person_without_bal_how_to_get_one(charlie_client):
    page = charlie_client.get(reverse("home")).content.decode()
    assert "Aucune BAL ne vous est encore attribuée" in page
    assert reverse("annuaire:search") in page


def test_it_gives_operator_admins_the_trust_and_journal_shortcuts(admin_client_olga):
    page = admin_client_olga.get(reverse("home")).content.decode()
    assert reverse("confiance:liste-blanche") in page
    assert reverse("audit:event-list") in page
    assert reverse("mailboxes:admin-list") in page
