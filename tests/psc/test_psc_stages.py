"""A professional who has a TOTP is not asked for it after PSC; and no PSC token reaches the session."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.psc.stages import PSC_AWARE_STAGE, psc_aware_login_stages
from tests.factories import enrol_totp
from tests.psc.conftest import run_psc_login
from tests.psc.oidc_provider import LoopbackOIDCProvider

pytestmark = pytest.mark.django_db


def test_it_swaps_only_allauths_second_factor_stage() -> None:
    stages = [
        "allauth.account.stages.EmailVerificationStage",
        "allauth.mfa.stages.AuthenticateStage",
        "x.Trust",
    ]

    assert psc_aware_login_stages(stages) == [stages[0], PSC_AWARE_STAGE, "x.Trust"]


def test_it_uses_the_psc_aware_stage_in_the_platforms_account_adapter() -> None:
    from allauth.account.adapter import get_adapter

    stages = get_adapter().get_login_stages()

    assert PSC_AWARE_STAGE in stages
    assert "allauth.mfa.stages.AuthenticateStage" not in stages


def test_it_skips_the_totp_of_an_enrolled_professional_after_psc(
    settings, client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    enrol_totp(psc_doctor)

    response = run_psc_login(client, psc_provider)

    assert response["Location"] == reverse("landing")
    assert client.session["_auth_user_id"] == str(psc_doctor.pk)
    assert client.get(reverse("home")).status_code == 200


def test_it_still_asks_the_totp_after_a_password_login(settings, client: Client, psc_doctor: User) -> None:
    enrol_totp(psc_doctor)

    response = client.post(
        reverse("account_login"), {"login": psc_doctor.email, "password": "Motdepasse-demo-2026!"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session


def test_it_keeps_psc_tokens_out_of_the_session(
    client: Client, psc_provider: LoopbackOIDCProvider, psc_doctor: User
) -> None:
    # Ref#2 CONF.28: no PSC token is stored, not even in the (database) session of the completed login.
    enrol_totp(psc_doctor)

    response = run_psc_login(client, psc_provider)

    assert response["Location"] == reverse("landing")
    stored = str(dict(client.session))
    issued = list(psc_provider._tokens)
    assert issued
    assert not any(token in stored for token in issued)
