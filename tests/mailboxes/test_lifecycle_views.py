"""The pages of the inactivity cycle: the signed opposition link of the e-mail, the administrators' list."""

from __future__ import annotations

import re

import pytest
from dateutil.relativedelta import relativedelta
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.mailboxes import lifecycle
from apps.mailboxes.models import LifecycleNotice, NoticeClosure
from tests.mailboxes.test_lifecycle import set_activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def noticed(alice_bal, dr_alice) -> LifecycleNotice:
    """Alice's BAL unused for eleven months: today's run sends her the notice."""
    User.objects.filter(pk=dr_alice.pk).update(outside_email="alice.perso@example.org")
    set_activity(alice_bal, dr_alice, day=timezone.localdate() - relativedelta(months=11))
    mail.outbox.clear()
    lifecycle.run_lifecycle(timezone.localdate())
    return LifecycleNotice.objects.get(mailbox=alice_bal)


def link_in(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/bal/opposition/[^\s]+/)", body)
    assert match, body
    return match.group(1)


def test_it_lets_the_user_oppose_from_the_link_without_logging_in(noticed, dr_alice):
    [email] = mail.outbox
    assert "Compte rendu" not in email.body  # no message content, only the address and dates
    url = link_in(email.body)
    anonymous = Client()
    page = anonymous.get(url)
    assert page.status_code == 200 and "Conserver cette boîte aux lettres" in page.content.decode()
    done = anonymous.post(url)
    assert done.status_code == 200 and "Votre demande est enregistrée" in done.content.decode()
    noticed.refresh_from_db()
    assert (noticed.closed_reason, noticed.opposed_by_id) == (NoticeClosure.OPPOSED, dr_alice.pk)
    event = AuditEvent.objects.get(action="mailbox.lifecycle_opposed")
    assert (event.actor_id, event.mailbox_id) == (dr_alice.pk, noticed.mailbox_id)
    # The link still answers, and says there is nothing left to do.
    assert "n'est plus menacée" in anonymous.get(url).content.decode()
    assert lifecycle.plan_lifecycle(timezone.localdate()) == []


def test_it_answers_404_to_a_tampered_or_foreign_link(noticed, charlie):
    url = link_in(mail.outbox[0].body)
    tampered = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    response = Client().post(tampered)
    assert response.status_code == 404 and "Ce lien n'est plus valable" in response.content.decode()
    foreign = reverse(
        "mailboxes:lifecycle-oppose", args=[lifecycle.opposition_url(noticed, charlie).split("/")[-2]]
    )
    assert Client().post(foreign).status_code == 404
    assert LifecycleNotice.objects.get(pk=noticed.pk).is_open


def test_it_lists_inactive_bals_to_administrators_who_may_keep_them(noticed, admin_client_olga, admin_olga):
    page = admin_client_olga.get(reverse("mailboxes:lifecycle-list")).content.decode()
    assert "alice.martin@demo.mssante.fr" in page and "Avis envoyé, en attente" in page
    response = admin_client_olga.post(reverse("mailboxes:lifecycle-keep", args=[noticed.mailbox_id]))
    assert response.status_code == 302
    noticed.refresh_from_db()
    assert noticed.closed_reason == NoticeClosure.OPPOSED and noticed.opposed_by_id == admin_olga.pk
    assert "Aucune BAL n" in admin_client_olga.get(reverse("mailboxes:lifecycle-list")).content.decode()


def test_it_shows_a_structure_admin_only_their_structures_bals(noticed, sam_client, charlie_client):
    page = sam_client.get(reverse("mailboxes:lifecycle-list")).content.decode()
    assert "alice.martin@demo.mssante.fr" not in page
    assert sam_client.post(reverse("mailboxes:lifecycle-keep", args=[noticed.mailbox_id])).status_code == 404
    assert charlie_client.get(reverse("mailboxes:lifecycle-list")).status_code == 404
