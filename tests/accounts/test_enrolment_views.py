"""First-login journey with the test client: "Sécurisez votre compte" -> TOTP -> recovery codes -> home."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.accounts.support import password_step, totp_code
from tests.factories import UserFactory


def _logged_in_new_professional() -> tuple[Client, object]:
    user = UserFactory()
    client = Client()
    password_step(client, user.email)
    return client, user


def _activate_totp(client: Client):
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret in page.content.decode()  # shown to be typed into an app that cannot scan
    return client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)}, follow=True)


def test_it_explains_why_a_second_factor_is_required(db):
    client, _user = _logged_in_new_professional()
    response = client.get(reverse("accounts:mfa-required"))
    body = response.content.decode()
    assert "Sécurisez votre compte" in body
    assert reverse("mfa_activate_totp") in body and reverse("mfa_add_webauthn") in body


def test_it_goes_from_totp_activation_to_our_recovery_codes_page(db, django_capture_on_commit_callbacks):
    client, user = _logged_in_new_professional()
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals the new factor on commit
        response = _activate_totp(client)
    assert response.redirect_chain[-1][0] == reverse("accounts:recovery-codes")
    codes = (
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()
    )
    body = response.content.decode()
    assert all(code in body for code in codes)
    assert AuditEvent.objects.filter(action="mfa.authenticator_added", target_id=str(user.pk)).exists()


def test_it_requires_the_saved_codes_checkbox(db):
    client, user = _logged_in_new_professional()
    _activate_totp(client)
    response = client.post(reverse("accounts:recovery-codes"), {})
    assert response.status_code == 200
    assert "Cochez la case" in response.content.decode()
    user.refresh_from_db()
    assert user.recovery_codes_saved_at is None


def test_it_completes_enrolment_and_opens_the_home_page(db):
    client, user = _logged_in_new_professional()
    _activate_totp(client)
    response = client.post(reverse("accounts:recovery-codes"), {"saved": "on"})
    assert response["Location"] == reverse("landing")
    assert client.get(reverse("home")).status_code == 200
    user.refresh_from_db()
    assert user.recovery_codes_saved_at is not None and user.last_authenticated_at is not None
    assert AuditEvent.objects.filter(action="mfa.enrolment_completed", target_id=str(user.pk)).exists()


def test_it_downloads_the_codes_as_a_text_file(db):
    client, user = _logged_in_new_professional()
    _activate_totp(client)
    response = client.get(reverse("accounts:recovery-codes-download"))
    assert response["Content-Type"].startswith("text/plain")
    assert "attachment" in response["Content-Disposition"]
    codes = (
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()
    )
    assert all(code in response.content.decode() for code in codes)
    assert user.email in response.content.decode()


def test_it_no_longer_shows_codes_without_reauthentication_after_enrolment(alice_client):
    for name in ("accounts:recovery-codes", "accounts:recovery-codes-download"):
        response = alice_client.get(reverse(name))
        assert response["Location"] == reverse("mfa_view_recovery_codes")


def test_it_sends_the_codes_page_back_to_step_one_without_a_factor(db):
    client, _user = _logged_in_new_professional()
    assert client.get(reverse("accounts:recovery-codes"))["Location"] == reverse("accounts:mfa-required")


def test_it_offers_a_security_key(db):
    client, _user = _logged_in_new_professional()
    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()  # only src= scripts and JSON data blocks (strict CSP)
