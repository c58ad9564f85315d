"""Login through allauth: password then second factor, journal entries, last authentication date."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from apps.accounts.models import UserKind
from apps.audit.models import AuditEvent, Outcome
from tests.accounts.support import full_login, password_step, totp_code
from tests.factories import UserFactory, enrol_totp


def _actions(user) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=str(user.pk)).order_by("id").values_list("action", flat=True)
    )


def test_it_asks_an_enrolled_professional_for_the_second_factor(db):
    user = UserFactory()
    enrol_totp(user)
    response = password_step(Client(), user.email)
    assert response["Location"] == reverse("mfa_authenticate")
    user.refresh_from_db()
    assert user.last_authenticated_at is None
    assert "auth.login" not in _actions(user)


def test_it_records_the_login_only_once_the_second_factor_is_given(db):
    user = UserFactory()
    secret = enrol_totp(user)
    client = Client()
    response = full_login(client, user.email, secret)
    assert response["Location"] == reverse("landing")
    user.refresh_from_db()
    assert user.last_authenticated_at is not None
    login = AuditEvent.objects.get(action="auth.login", target_id=str(user.pk))
    assert login.details == {"method": "password+mfa", "complete": True}
    assert client.get(reverse("home")).status_code == 200


def test_it_journals_a_wrong_second_factor_code(db):
    user = UserFactory()
    secret = enrol_totp(user)
    client = Client()
    password_step(client, user.email)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert response.status_code == 200
    assert "Code incorrect" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.mfa_failed", target_id=str(user.pk))
    assert event.outcome == Outcome.FAILURE
    user.refresh_from_db()
    assert user.last_authenticated_at is None


def test_it_journals_a_recovery_code_login(db):
    user = UserFactory()
    enrol_totp(user)
    codes = (
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()
    )
    client = Client()
    password_step(client, user.email)
    response = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert response["Location"] == reverse("landing")
    event = AuditEvent.objects.get(action="mfa.recovery_code_used", target_id=str(user.pk))
    assert event.details == {"remaining": len(codes) - 1}


def test_it_does_not_count_a_password_alone_as_a_full_authentication(db):
    user = UserFactory()
    client = Client()
    response = password_step(client, user.email)
    assert response["Location"] == reverse("landing")
    assert client.get(reverse("home"))["Location"] == reverse("accounts:mfa-required")
    user.refresh_from_db()
    assert user.last_authenticated_at is None
    login = AuditEvent.objects.get(action="auth.login", target_id=str(user.pk))
    assert login.details == {"method": "password", "complete": False}


def test_it_counts_a_patient_password_login_as_complete(db):
    user = UserFactory(kind=UserKind.PATIENT, national_id="")
    password_step(Client(), user.email)
    user.refresh_from_db()
    assert user.last_authenticated_at is not None


def test_it_journals_a_failed_password_without_the_password(db):
    user = UserFactory()
    response = password_step(Client(), user.email, "mauvais-mot-de-passe")
    assert response.status_code == 200
    assert "L&#x27;adresse e-mail ou le mot de passe est incorrect." in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.target_id == str(user.pk) and event.outcome == Outcome.FAILURE
    assert "mauvais" not in str(event.details)


def test_it_journals_the_logout(alice_client, dr_alice):
    response = alice_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor_id=dr_alice.pk).exists()
    assert alice_client.get(reverse("home"))["Location"].startswith(reverse("account_login"))


def test_it_forgets_a_psc_mark_when_a_password_login_follows(db):
    user = UserFactory()
    client = Client()
    session = client.session
    session["strong_auth_method"] = "psc"
    session.save()
    password_step(client, user.email)
    assert "strong_auth_method" not in client.session
    assert client.get(reverse("home"))["Location"] == reverse("accounts:mfa-required")
