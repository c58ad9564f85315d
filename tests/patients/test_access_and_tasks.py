"""Who reaches the portal, the patients' login, and the Celery work: notices, automatic returns."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import Delivery, DeliveryState, MessageCopy, MessageKind
from apps.patients import tasks
from apps.patients.services import do_close_profile
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.messaging.helpers import body_of, send
from tests.patients.conftest import PAUL_ADDRESS

INBOX = "/patient/"


def test_it_sends_anonymous_visitors_to_the_portal_login(client):
    response = client.get(INBOX)
    assert response.status_code == 302 and response["Location"].startswith(reverse("patients:login"))
    page = client.get(reverse("patients:login")).content.decode()
    assert "Connexion à votre messagerie de santé" in page and 'value="/patient/"' in page


def test_it_logs_a_patient_in_through_the_second_factor_to_the_portal(client, paul_client, paul_profile):
    response = Client().post(
        reverse("patients:login"),
        {"login": paul_profile.user.email, "password": DEFAULT_PASSWORD, "next": INBOX},
    )
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")


def test_it_hides_the_portal_from_professionals(alice_client):
    assert alice_client.get(INBOX).status_code == 404
    assert alice_client.get(reverse("patients:documents")).status_code == 404


def test_it_asks_a_patient_without_second_factor_to_secure_the_space(paul_profile):
    client = Client()
    client.force_login(paul_profile.user)
    response = client.get(INBOX)
    assert response.status_code == 302 and response["Location"] == reverse("patients:secure")
    page = client.get(reverse("patients:secure")).content.decode()
    assert "sécurisez votre espace" in page and reverse("accounts:mfa-required") in page


def test_it_explains_when_no_messaging_is_open_yet(db):
    from tests.factories import enrol_totp

    patient = UserFactory(kind="patient", national_id="")
    enrol_totp(patient)
    client = Client()
    client.force_login(patient)
    page = client.get(INBOX)
    assert page.status_code == 404 and "pas encore ouverte" in page.content.decode()


@pytest.mark.parametrize(
    "name", ["mailboxes:mailbox-list", "messaging:inbox", "audit:event-list", "admin:index"]
)
def test_it_keeps_patients_out_of_professional_pages(paul_client, paul_profile, name):
    url = reverse(name, args=[paul_profile.mailbox_id]) if name == "messaging:inbox" else reverse(name)
    response = paul_client.get(url)
    assert response.status_code == 302 and response["Location"] == reverse("patients:inbox")
    assert paul_client.post(url).status_code == 403


def test_it_leaves_patients_their_account_pages(paul_client):
    assert paul_client.get(reverse("mfa_index")).status_code == 200
    assert paul_client.get(reverse("home"))["Location"] == reverse("patients:inbox")  # his home is the portal


# --- notices outside the trust space ------------------------------------------------------------------------
def test_it_notifies_a_new_message_once_without_any_health_data(paul_profile, alice_bal, dr_alice):
    type(paul_profile.user).objects.filter(pk=paul_profile.user_id).update(outside_email="paul@example.org")
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Résultats VIH", text="Négatif")
    assert tasks.notify_patients() == 1
    assert tasks.notify_patients() == 0
    sent = mail.outbox[0]
    assert sent.to == ["paul@example.org"] and "nouveau message" in sent.subject
    for secret in ("VIH", "Négatif", "Alice", "alice.martin"):
        assert secret not in sent.subject + sent.body
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Suite", text="...")
    assert tasks.notify_patients() == 1


def test_it_notifies_nobody_without_an_outside_address_or_who_opted_out(paul_profile, alice_bal, dr_alice):
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Résultats", text="...")
    assert tasks.notify_patients() == 0
    type(paul_profile.user).objects.filter(pk=paul_profile.user_id).update(outside_email="paul@example.org")
    type(paul_profile).objects.filter(pk=paul_profile.pk).update(notify_by_email=False)
    assert tasks.notify_patients() == 0 and mail.outbox == []


def test_it_tells_the_patient_outside_that_the_space_was_closed(paul_profile):
    type(paul_profile.user).objects.filter(pk=paul_profile.user_id).update(outside_email="paul@example.org")
    paul_profile.user.refresh_from_db()
    do_close_profile(paul_profile, acting_user=paul_profile.user)
    assert tasks.notify_profile_closed_task.apply(args=[paul_profile.pk]).get() is True
    assert "fermée" in mail.outbox[0].subject


# --- automatic returns --------------------------------------------------------------------------------------
def test_it_refuses_at_once_a_message_to_a_closed_profile(paul_profile, alice_bal, dr_alice):
    do_close_profile(paul_profile, acting_user=None)
    with pytest.raises(SubmissionRefused) as refused:
        send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Résultats", text="...")
    assert "messagerie fermée" in " ".join(refused.value.refusals.values())


def test_it_returns_to_the_professional_what_waited_for_a_profile_closed_meanwhile(
    paul_profile, alice_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Résultats", text="...", deliver=False)
    do_close_profile(paul_profile, acting_user=None)
    assert tasks.return_pending_deliveries_task.apply(args=[paul_profile.pk]).get() == 1
    delivery = Delivery.objects.get(message=message)
    assert delivery.state == DeliveryState.FAILED and delivery.error_code == "patient_closed"
    bounce = MessageCopy.objects.get(mailbox=alice_bal, message__kind=MessageKind.BOUNCE)
    assert "messagerie fermée" in body_of(bounce)
    assert not MessageCopy.objects.filter(mailbox=paul_profile.mailbox).exists()
    assert tasks.return_pending_deliveries_task.apply(args=[paul_profile.pk]).get() == 0


def test_it_returns_a_delivery_refused_at_deposit_with_the_french_cause(paul_profile, alice_bal, dr_alice):
    from apps.messaging.delivery.deliver import do_deliver

    message = send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Résultats", text="...", deliver=False)
    type(paul_profile).objects.filter(pk=paul_profile.pk).update(
        state="closed", closed_at="2026-01-01T00:00Z"
    )
    do_deliver(Delivery.objects.get(message=message).pk)
    bounce = MessageCopy.objects.get(mailbox=alice_bal, message__kind=MessageKind.BOUNCE)
    assert "messagerie fermée" in body_of(bounce)
