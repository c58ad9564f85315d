"""`seed_demo` gives `make run` working logins; `demo_totp` prints the code that completes them."""

from __future__ import annotations

from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.accounts.models import User
from mssante_web.management.demo_personas import DEMO_PASSWORD, PERSONAS, persona


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _totp(email: str) -> str:
    out = StringIO()
    call_command("demo_totp", email, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def _snapshot() -> list[tuple]:
    return sorted(
        (u.email, u.kind, u.national_id, u.is_superuser, u.password, u.recovery_codes_saved_at)
        for u in User.objects.all()
    ) + sorted(Authenticator.objects.values_list("user__email", "type", "data__secret"))


def test_it_creates_the_personas_of_the_design(db):
    output = _seed()

    alice = User.objects.get(email="alice.martin@demo.mssante.fr")
    assert (alice.get_full_name(), alice.kind, alice.national_id) == (
        "Alice Martin",
        "professional",
        "810001234565",
    )
    assert User.objects.get(email=persona("sec_bob").email).kind == "staff"
    assert User.objects.get(email=persona("patient_paul").email).kind == "patient"
    admin = User.objects.get(email=persona("admin_olga").email)
    assert admin.kind == "operator_admin" and admin.is_staff and admin.is_superuser
    assert User.objects.count() == len(PERSONAS)
    assert DEMO_PASSWORD in output


def test_it_is_idempotent(db):
    _seed()
    before = _snapshot()
    _seed()
    assert _snapshot() == before


def test_it_gives_a_fixed_second_factor_to_all_but_the_patient(db):
    _seed()
    for one in PERSONAS:
        factors = set(Authenticator.objects.filter(user__email=one.email).values_list("type", flat=True))
        expected = {"totp", "recovery_codes"} if one.needs_totp else set()
        assert factors == expected, one.email
    assert len({one.totp_secret for one in PERSONAS}) == len(PERSONAS)


def test_it_lets_a_persona_log_in_with_password_and_the_demo_totp_code(db, client):
    _seed()
    response = client.post(
        reverse("account_login"), {"login": persona("dr_alice").email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")

    response = client.post(reverse("mfa_authenticate"), {"code": _totp(persona("dr_alice").email)})

    assert response.status_code == 302
    home = client.get(reverse("home"))
    assert home.status_code == 200 and "Alice" in home.content.decode()


def test_it_gives_the_patient_a_second_factor_as_the_portal_requires(db, client):
    _seed()
    response = client.post(
        reverse("account_login"), {"login": persona("patient_paul").email, "password": DEMO_PASSWORD}
    )
    # The portal requires a second factor (issue 14): the demo patient has one, like the other personas.
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")


def test_it_restores_the_documented_secret_after_a_re_enrolment(db):
    _seed()
    alice = persona("dr_alice")
    Authenticator.objects.filter(user__email=alice.email, type="totp").delete()
    _seed()
    from allauth.mfa.utils import decrypt

    totp = Authenticator.objects.get(user__email=alice.email, type="totp")
    assert decrypt(totp.data["secret"]) == alice.totp_secret


def test_it_refuses_outside_demo_and_tests_unless_forced(db, settings):
    settings.DEV = settings.TESTING = False
    with pytest.raises(CommandError, match="refusé"):
        call_command("seed_demo", stdout=StringIO())
    with pytest.raises(CommandError, match="démonstration"):
        _totp(persona("dr_alice").email)
    call_command("seed_demo", "--force", stdout=StringIO())
    assert User.objects.filter(email=persona("dr_alice").email).exists()


def test_it_refuses_a_code_for_someone_who_is_not_a_demo_persona(db):
    _seed()
    with pytest.raises(CommandError, match="pas un compte de démonstration"):
        _totp("someone@else.test")
