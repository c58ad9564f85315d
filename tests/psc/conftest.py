"""Fixtures for Pro Santé Connect tests: the loopback provider and the settings that point PSC at it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import cast
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.annuaire.identifiers import compute_rpps_key
from apps.annuaire.models import IdType, Professional
from tests.factories import UserFactory
from tests.psc.oidc_provider import LoopbackOIDCProvider, PscSubject

TEST_HOST = "http://testserver"
CALLBACK_PATH = "/comptes/oidc/psc/login/callback/"


def new_national_id() -> str:
    body = f"1{secrets.randbelow(10**9):09d}"
    return f"8{body}{compute_rpps_key(body)}"


def psc_app_settings(provider: LoopbackOIDCProvider) -> dict:
    return {
        "openid_connect": {
            "provider_class": "apps.accounts.psc.provider.PSCProvider",
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "psc",
                    "name": "Pro Santé Connect",
                    "client_id": provider.client_id,
                    "secret": provider.client_secret,
                    "settings": {
                        "server_url": provider.issuer,
                        "auth_params": {"acr_values": "eidas1"},
                        "scope": ["openid", "scope_all"],
                    },
                }
            ],
        }
    }


@pytest.fixture
def psc_provider(settings) -> Iterator[LoopbackOIDCProvider]:
    """The loopback provider, started, with PSC configured to use it for this test."""
    with LoopbackOIDCProvider(
        client_id="mssante-operateur", redirect_uris=[TEST_HOST + CALLBACK_PATH]
    ) as provider:
        settings.SOCIALACCOUNT_PROVIDERS = psc_app_settings(provider)
        yield provider


def make_professional(national_id: str, *, active: bool = True) -> Professional:
    return Professional.objects.create(
        national_id=national_id,
        id_type=IdType.RPPS,
        first_name="Alice",
        last_name="MARTIN",
        profession_code="10",
        profession_label="Médecin",
        is_active=active,
    )


@pytest.fixture
def psc_doctor(db, psc_provider: LoopbackOIDCProvider) -> User:
    """An active professional of the annuaire with an account (no second factor), authenticated by PSC."""
    national_id = new_national_id()
    make_professional(national_id)
    user = cast(User, UserFactory(email=f"dr.{national_id}@demo.mssante.fr", national_id=national_id))
    psc_provider.subject = PscSubject(national_id=national_id, given_name="Alice", family_name="MARTIN")
    return user


def run_psc_login(client: Client, provider: LoopbackOIDCProvider, login_query: str = ""):
    """The whole browser dance, over real HTTP on the provider side; returns the callback response.

    Django test client -> POST the PSC login URL -> 302 to the provider's authorization endpoint, fetched
    with `requests` -> 302 back to our callback with code and state -> test client GETs the callback, during
    which allauth calls the provider's discovery, token, JWKS and userinfo endpoints over HTTP.
    """
    start = client.post(reverse("openid_connect_login", kwargs={"provider_id": "psc"}) + login_query)
    assert start.status_code == 302, start.content[:500]
    authorize_url = start["Location"]
    assert authorize_url.startswith(provider.issuer + "/protocol/openid-connect/auth?")
    back = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == TEST_HOST + CALLBACK_PATH
    return client.get(f"{callback.path}?{callback.query}")
