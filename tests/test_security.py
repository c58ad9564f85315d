"""Security baseline: headers, CSRF, cookies, production settings (`check --deploy`), no inline script."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory

BASE_DIR = Path(settings.BASE_DIR)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=\"", re.I)


def _csp(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {d[0]: (d[1] if len(d) > 1 else "") for d in directives if d[0]}


@pytest.mark.parametrize("url_name", ["account_login", "healthz"])
def test_it_sets_the_security_headers_on_anonymous_pages(client, db, url_name):
    response = client.get(reverse(url_name))
    csp = _csp(response)
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_it_forbids_caching_of_authenticated_pages(alice_client):
    response = alice_client.get(reverse("home"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@override_settings(SECURE_HSTS_SECONDS=63072000, SECURE_SSL_REDIRECT=False)
def test_it_sends_hsts_over_https(client, db):
    response = client.get(reverse("account_login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains; preload"


def test_it_enforces_csrf_on_login(db):
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("account_login"), {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_it_enforces_csrf_on_an_authenticated_post(dr_alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dr_alice)
    assert client.post(reverse("accounts:logout-everywhere")).status_code == 403
    dr_alice.refresh_from_db()
    assert dr_alice.session_epoch == 0


def test_it_sets_httponly_samesite_cookies(client, db):
    user = UserFactory(kind="patient", national_id="")
    client.get(reverse("account_login"))
    client.post(reverse("account_login"), {"login": user.email, "password": DEFAULT_PASSWORD})
    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        cookie = client.cookies[name]
        assert cookie["httponly"] is True, name
        assert cookie["samesite"] == "Lax", name


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSSANTE_", "DJANGO_", "PYTEST"))}
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60)[:60],
        MASTER_KEY="prod-test:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="mss.example.fr",
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL="redis://127.0.0.1:6379/15",
        MSS_NIL="DEV935997",
        DJANGO_SETTINGS_MODULE="mssante_web.settings",
    )
    env.pop("DEBUG", None)
    return env


def _manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_in_production():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "System check identified no issues" in output


def test_it_runs_production_without_debug_and_with_secure_cookies():
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_NAME, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = _manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]  # the shell may first announce its auto-imports
    assert last_line.split() == ["False", "True", "True", "__Host-sessionid", "True", "True"]


def _shipped_templates() -> list[Path]:
    roots = [BASE_DIR / "templates", *(BASE_DIR / "apps").glob("*/templates")]
    return [path for root in roots for path in root.rglob("*.html")]


def test_it_ships_no_inline_script_or_style_in_templates():
    offenders = []
    for path in _shipped_templates():
        text = path.read_text(encoding="utf-8")
        if INLINE_SCRIPT.search(text) or INLINE_STYLE.search(text):
            offenders.append(str(path.relative_to(BASE_DIR)))
    assert offenders == []


@pytest.mark.parametrize("url_name", ["mfa_activate_totp", "mfa_add_webauthn", "accounts:mfa-required"])
def test_it_renders_enrolment_pages_without_inline_script(db, url_name):
    client = Client()
    user = UserFactory()
    client.post(reverse("account_login"), {"login": user.email, "password": DEFAULT_PASSWORD})
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html)


def test_production_refuses_to_start_without_a_master_key():
    env = _production_env()
    env.pop("MASTER_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "no master key" in result.stderr
