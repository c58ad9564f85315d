"""A new professional's first login in Chromium: enrol TOTP, save recovery codes, log out, log in again.

The TOTP secret is read from the activation page, as a person would type it into an app that cannot scan.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from apps.accounts.middleware import ENROLMENT_URL_NAMES
from apps.accounts.models import User
from tests.accounts.support import totp_code
from tests.accounts.test_mfa_gate import _view_name, all_paths
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login_with_password(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/comptes/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    page.locator("#contenu form button[type=submit]").first.click()
    page.wait_for_load_state("domcontentloaded")


def _safe_now(margin: float = 3.0) -> float:
    """Now, unless the current TOTP step ends within `margin` seconds: then the start of the next one."""
    period = getattr(settings, "MFA_TOTP_PERIOD", 30)
    now = time.time()
    left = period - (now % period)
    if left < margin:
        time.sleep(left + 0.2)
        now = time.time()
    return now


def _wait_for_next_totp_step(after: float) -> float:
    """Sleep until a TOTP time step later than the one of `after` starts (a used code is refused)."""
    period = getattr(settings, "MFA_TOTP_PERIOD", 30)
    next_step = (int(after) // period + 1) * period
    time.sleep(max(0.0, next_step - time.time()) + 0.5)
    return time.time()


def test_it_enrols_totp_at_first_login_then_logs_in_with_a_fresh_code(page, live_server, screenshot_dir):
    user = UserFactory(email="nouvelle.pro@demo.mssante.fr", first_name="Nina")
    base = live_server.url
    page.goto(base + "/comptes/login/")
    page.screenshot(path=str(screenshot_dir / "login.png"), full_page=True)

    _login_with_password(page, base, user.email)
    assert page.url.endswith("/compte/second-facteur/")
    assert page.get_by_role("heading", name="Sécurisez votre compte").is_visible()
    page.screenshot(path=str(screenshot_dir / "enrolment.png"), full_page=True)

    page.get_by_role("link", name="Activer une application d'authentification").click()
    page.wait_for_url("**/comptes/2fa/totp/activate/")
    # The QR code is a data: image, which the CSP allows (img-src 'self' data:).
    assert page.locator("img[src^='data:image/svg+xml']").is_visible()
    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    page.screenshot(path=str(screenshot_dir / "totp_activate.png"), full_page=True)
    activated_at = _safe_now()
    page.locator("input[name=code]").fill(totp_code(secret, activated_at))
    page.locator("#contenu form button[type=submit]").first.click()

    page.wait_for_url("**/compte/second-facteur/codes-de-secours/")
    codes = page.locator("ul.codes li").all_inner_texts()
    assert len(codes) == settings.MFA_RECOVERY_CODE_COUNT
    page.screenshot(path=str(screenshot_dir / "recovery_codes.png"), full_page=True)
    page.get_by_label("J'ai enregistré mes codes de secours en lieu sûr").check()
    page.get_by_role("button", name="Terminer").click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", name="Bonjour Nina").is_visible()

    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_url("**/comptes/login/**")

    _login_with_password(page, base, user.email)
    page.wait_for_url("**/comptes/2fa/authenticate/")
    page.screenshot(path=str(screenshot_dir / "mfa_authenticate.png"), full_page=True)
    later = _wait_for_next_totp_step(activated_at)
    page.locator("input[name=code]").fill(totp_code(secret, later))
    page.locator("#contenu form button[type=submit]").first.click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", name="Bonjour Nina").is_visible()

    user.refresh_from_db()
    assert user.recovery_codes_saved_at is not None and user.last_authenticated_at is not None
    assert page.console_errors == []  # no CSP violation, no JS error on any page of the journey


def test_it_shows_no_mailbox_page_to_a_professional_without_a_second_factor(page, live_server):
    user: User = UserFactory()
    _login_with_password(page, live_server.url, user.email)
    seen_gate = 0
    for path in all_paths():
        if _view_name(path) in ENROLMENT_URL_NAMES:
            continue
        response = page.goto(live_server.url + path)
        if page.url.endswith("/compte/second-facteur/"):
            assert page.get_by_role("heading", name="Sécurisez votre compte").is_visible()
            seen_gate += 1
        else:  # a dummy id that does not exist, or a page refused outright
            assert response.status in (403, 404, 405), (path, response.status, page.url)
    assert seen_gate > 20


def test_it_shows_the_login_page_in_french_on_a_phone(mobile_page, live_server, screenshot_dir):
    mobile_page.goto(live_server.url + "/comptes/login/")
    heading = mobile_page.get_by_role("heading", name="Connexion à votre messagerie sécurisée de santé")
    assert heading.is_visible()
    width = mobile_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways on a phone
    mobile_page.screenshot(path=str(screenshot_dir / "login_mobile.png"), full_page=True)
    assert mobile_page.console_errors == []


def test_it_loads_the_security_key_page_without_csp_violation(page, live_server):
    user: User = UserFactory()
    _login_with_password(page, live_server.url, user.email)
    page.get_by_role("link", name="Utiliser une clé de sécurité").click()
    page.wait_for_url("**/comptes/2fa/webauthn/add/")
    assert page.locator("#mfa_webauthn_add").is_visible()
    # allauth's WebAuthn scripts come from /static/ and read their options from a JSON data block.
    assert page.evaluate("typeof window.allauth") == "object"
    assert page.console_errors == []
