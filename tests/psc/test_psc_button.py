"""The login page offers "Se connecter avec Pro Santé Connect" only when PSC is configured."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.psc.oidc_provider import LoopbackOIDCProvider

pytestmark = pytest.mark.django_db

BUTTON = "Se connecter avec Pro Santé Connect"


def test_it_shows_the_psc_button_when_psc_is_configured(
    client: Client, psc_provider: LoopbackOIDCProvider
) -> None:
    page = client.get(reverse("account_login")).content.decode()

    assert BUTTON in page
    login_url = reverse("openid_connect_login", kwargs={"provider_id": "psc"})
    assert f'<form method="post" action="{login_url}' in page


def test_it_hides_the_psc_button_when_psc_is_not_configured(settings, client: Client) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {"provider_class": "apps.accounts.psc.provider.PSCProvider", "APPS": []}
    }

    page = client.get(reverse("account_login")).content.decode()

    assert BUTTON not in page


def test_it_answers_404_on_the_psc_login_url_when_psc_is_not_configured(settings, client: Client) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {"provider_class": "apps.accounts.psc.provider.PSCProvider", "APPS": []}
    }

    response = client.post(reverse("openid_connect_login", kwargs={"provider_id": "psc"}))

    assert response.status_code == 404


def test_it_asks_confirmation_in_french_when_the_psc_login_url_is_opened_by_get(
    client: Client, psc_provider: LoopbackOIDCProvider
) -> None:
    response = client.get(reverse("openid_connect_login", kwargs={"provider_id": "psc"}))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Connexion avec Pro Santé Connect" in page
    assert '<form method="post">' in page
    assert not psc_provider.authorization_requests  # nothing sent to PSC before the POST
