"""Patient first login ends on the portal; every login lands where the person works (issue 14, item 6)."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.patients.services import do_open_profile

pytestmark = pytest.mark.django_db
LANDING = reverse("landing")


def _client(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_a_patient_with_a_new_factor_is_led_to_the_codes_then_to_the_portal(patient_paul):
    do_open_profile(user=patient_paul, ins="279035121518989", activate=True, acting_user=None)
    TOTP.activate(patient_paul, generate_totp_secret())  # what allauth's activation did
    client = _client(patient_paul)

    # allauth's own next page, and the portal's gate, both lead to the enrolment's codes page.
    for url in (reverse("mfa_view_recovery_codes"), reverse("patients:secure"), reverse("patients:inbox")):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("accounts:recovery-codes"), url
    page = client.get(reverse("accounts:recovery-codes")).content.decode()
    assert page.count("<li>") >= settings.MFA_RECOVERY_CODE_COUNT
    assert "Terminer" in page

    done = client.post(reverse("accounts:recovery-codes"), {"saved": "on"}, follow=True)
    assert [url for url, _ in done.redirect_chain] == [LANDING, reverse("patients:inbox")]
    assert done.status_code == 200
    assert Authenticator.objects.filter(user=patient_paul, type=Authenticator.Type.RECOVERY_CODES).exists()


def test_a_login_lands_on_the_inbox_of_the_last_bal_used(dr_alice, alice_bal, cardio_bal):
    client = _client(dr_alice)
    assert client.get(LANDING)["Location"] == reverse("messaging:inbox", args=[alice_bal.pk])
    client.get(reverse("messaging:inbox", args=[cardio_bal.pk]))  # she works in the secretariat's BAL

    later = _client(dr_alice)  # a new session, the next morning
    assert later.get(LANDING)["Location"] == reverse("messaging:inbox", args=[cardio_bal.pk])


def test_an_admin_without_a_bal_lands_on_the_administration(admin_olga):
    assert _client(admin_olga).get(LANDING)["Location"] == reverse("mailboxes:admin-list")


def test_the_login_redirect_is_the_landing():
    assert settings.LOGIN_REDIRECT_URL == "landing"
