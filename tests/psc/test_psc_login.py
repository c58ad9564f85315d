"""Pro Santé Connect login end to end: Django test client + the Authlib provider on loopback, over HTTP."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent, Outcome
from tests.factories import UserFactory
from tests.psc.conftest import make_professional, new_national_id, run_psc_login
from tests.psc.oidc_provider import LoopbackOIDCProvider, PscSubject

pytestmark = pytest.mark.django_db


def _refusal(response) -> tuple[str, AuditEvent]:
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    event = AuditEvent.objects.filter(action="auth.psc_refused").latest("id")
    assert event.outcome == Outcome.DENIED
    return texts[-1], event


def _assert_anonymous(client: Client) -> None:
    assert "_auth_user_id" not in client.session
    assert "strong_auth_method" not in client.session


def test_it_logs_in_a_known_professional_with_signed_userinfo(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    response = run_psc_login(client, psc_provider)

    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == reverse("landing")
    assert client.session["_auth_user_id"] == str(psc_doctor.pk)
    assert client.session["strong_auth_method"] == "psc"
    # A CPS/e-CPS login is strong authentication: no TOTP enrolment stands in the way.
    home = client.get(reverse("home"))
    assert home.status_code == 200
    event = AuditEvent.objects.get(action="auth.psc_login")
    assert event.actor_id == psc_doctor.pk
    assert event.details["national_id"] == psc_doctor.national_id
    assert event.details["acr"] == "eidas1"
    assert event.details["linked"] is True
    psc_doctor.refresh_from_db()
    assert psc_doctor.last_authenticated_at is not None
    account = SocialAccount.objects.get(provider="psc", user=psc_doctor)
    assert account.uid == psc_provider.subject.sub
    assert account.extra_data["userinfo"]["SubjectNameID"] == psc_doctor.national_id
    # Ref#2 CONF.28: PSC tokens are never stored.
    assert not SocialToken.objects.exists()
    assert "eyJ" not in str(account.extra_data)


def test_it_sends_pkce_nonce_and_the_configured_acr_and_scope(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    run_psc_login(client, psc_provider)

    request = psc_provider.authorization_requests[-1]
    assert request["acr_values"] == "eidas1"
    assert set(request["scope"].split()) == {"openid", "scope_all"}  # allauth does not keep the order
    assert request["code_challenge_method"] == "S256"
    assert request["nonce"]
    assert psc_provider.token_requests[-1] == {"auth_method": "client_secret_post", "code_verifier": True}
    assert psc_provider.userinfo_requests == 1


def test_it_ignores_acr_values_passed_in_the_login_url(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    run_psc_login(client, psc_provider, login_query="?auth_params=acr_values%3Deidas0&scope=email")

    request = psc_provider.authorization_requests[-1]
    assert request["acr_values"] == "eidas1"
    assert set(request["scope"].split()) == {"openid", "scope_all"}  # allauth does not keep the order


def test_it_reuses_the_linked_social_account_on_the_next_login(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    run_psc_login(client, psc_provider)
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session

    response = run_psc_login(client, psc_provider)

    assert response["Location"] == reverse("landing")
    assert client.session["_auth_user_id"] == str(psc_doctor.pk)
    assert SocialAccount.objects.filter(provider="psc").count() == 1
    assert AuditEvent.objects.filter(action="auth.psc_login").latest("id").details["linked"] is False


def test_it_accepts_json_userinfo_too(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    psc_provider.userinfo_format = "json"

    response = run_psc_login(client, psc_provider)

    assert response["Location"] == reverse("landing")
    assert client.session["_auth_user_id"] == str(psc_doctor.pk)


def test_it_uses_client_secret_basic_when_the_provider_only_offers_it(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    psc_provider.token_endpoint_auth_methods = ["client_secret_basic"]

    response = run_psc_login(client, psc_provider)

    assert response["Location"] == reverse("landing")
    assert psc_provider.token_requests[-1]["auth_method"] == "client_secret_basic"


def test_it_refuses_an_unknown_national_id(client: Client, psc_provider: LoopbackOIDCProvider) -> None:
    national_id = new_national_id()
    UserFactory(national_id=national_id)  # an account, but nobody in the annuaire
    psc_provider.subject = PscSubject(national_id=national_id)

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert f"Votre identifiant national {national_id} n'est pas reconnu dans l'Annuaire Santé" in message
    assert event.details == {"reason": "national_id_unknown", "national_id": national_id}
    _assert_anonymous(client)
    page = client.get(reverse("account_login"))
    assert "n&#x27;est pas reconnu dans l&#x27;Annuaire Santé" in page.content.decode()


def test_it_refuses_an_inactive_professional(client: Client, psc_provider: LoopbackOIDCProvider) -> None:
    national_id = new_national_id()
    make_professional(national_id, active=False)
    UserFactory(national_id=national_id)
    psc_provider.subject = PscSubject(national_id=national_id)

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert f"Votre identifiant national {national_id} n'est plus actif dans l'Annuaire Santé" in message
    assert event.details["reason"] == "professional_inactive"
    _assert_anonymous(client)


def test_it_refuses_a_professional_without_an_account(
    client: Client, psc_provider: LoopbackOIDCProvider
) -> None:
    national_id = new_national_id()
    make_professional(national_id)
    psc_provider.subject = PscSubject(national_id=national_id, email="someone@demo.mssante.fr")
    UserFactory(email="someone@demo.mssante.fr", national_id="")  # same e-mail: never a reason to match

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "aucun compte n'est encore ouvert à votre nom" in message
    assert "Demandez à votre administrateur de l'ouvrir" in message
    assert event.details["reason"] == "account_missing"
    assert not SocialAccount.objects.exists()
    _assert_anonymous(client)


def test_it_refuses_a_disabled_account(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    User.objects.filter(pk=psc_doctor.pk).update(is_active=False)

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "Votre compte sur cette plateforme est désactivé" in message
    assert event.details["reason"] == "account_inactive"
    assert event.target_id == str(psc_doctor.pk)
    _assert_anonymous(client)


def test_it_refuses_userinfo_signed_by_another_key(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    psc_provider.userinfo_signing_key = "rogue"

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "la réponse du service n'a pas pu être vérifiée" in message
    assert event.details["reason"] == "provider_error"
    assert "signature" in event.details["detail"]
    assert not AuditEvent.objects.filter(action="auth.psc_login").exists()
    _assert_anonymous(client)


def test_it_refuses_an_acr_other_than_the_one_requested(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    psc_provider.acr = "eidas0"

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "niveau d'authentification" in message
    assert event.details["reason"] == "acr_insufficient"
    _assert_anonymous(client)


def test_it_refuses_an_identity_linked_to_another_account(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    other = UserFactory()
    SocialAccount.objects.create(provider="psc", uid=psc_provider.subject.sub, user=other)

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "déjà rattachée à un autre compte" in message
    assert event.details["reason"] == "social_account_mismatch"
    _assert_anonymous(client)


def test_it_refuses_a_replayed_callback(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    run_psc_login(client, psc_provider)
    client.post(reverse("account_logout"))
    state = psc_provider.authorization_requests[-1]["state"]  # consumed by the first callback

    response = client.get(
        reverse("openid_connect_callback", kwargs={"provider_id": "psc"}),
        {"code": "replayed", "state": state},
    )

    message, event = _refusal(response)
    assert event.details["reason"] == "provider_error"
    _assert_anonymous(client)


def test_it_logs_in_the_psc_person_even_over_another_open_session(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    patient: User = UserFactory.create(kind="patient", national_id="")
    client.force_login(patient)

    response = run_psc_login(client, psc_provider, login_query="?process=connect")

    assert response["Location"] == reverse("landing")
    assert client.session["_auth_user_id"] == str(psc_doctor.pk)
    assert client.session["strong_auth_method"] == "psc"
    assert SocialAccount.objects.get(provider="psc").user_id == psc_doctor.pk


def test_it_refuses_an_id_token_that_does_not_echo_the_nonce(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    psc_provider.echo_nonce = False

    message, event = _refusal(run_psc_login(client, psc_provider))

    assert "ne correspond pas à votre demande de connexion" in message
    assert event.details["reason"] == "nonce_mismatch"
    _assert_anonymous(client)
