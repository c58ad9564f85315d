"""Helpers for driving allauth's real login flow from Django's test client."""

from __future__ import annotations

import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD


def totp_code(secret: str, at: float | None = None) -> str:
    """The TOTP code of `secret` at Unix time `at`.

    By default, the code of now, waiting for the next time step when the current one ends within a second
    (the server accepts the current step only, so a code computed at the very end would be refused).
    """
    period = getattr(settings, "MFA_TOTP_PERIOD", 30)
    if at is None:
        left = period - (time.time() % period)
        if left < 1.0:
            time.sleep(left + 0.05)
        at = time.time()
    return format_hotp_value(hotp_value(secret, int(at) // period))


def password_step(client: Client, email: str, password: str = DEFAULT_PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def full_login(client: Client, email: str, secret: str, password: str = DEFAULT_PASSWORD):
    """Password then TOTP through allauth; returns the response of the second-factor step."""
    response = password_step(client, email, password)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate"), response
    return client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
