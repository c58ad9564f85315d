"""The Django admin sits behind allauth's login and the second factor."""

from __future__ import annotations

from urllib.parse import unquote

from django.test import Client
from django.urls import reverse

from apps.accounts.models import UserKind
from tests.factories import UserFactory, enrol_totp


def test_it_sends_the_admin_login_to_allauth(db):
    response = Client().get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_it_ignores_a_password_posted_to_the_admin_login(db):
    admin = UserFactory(kind=UserKind.OPERATOR_ADMIN, national_id="", is_staff=True, is_superuser=True)
    enrol_totp(admin)
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": admin.email, "password": "Motdepasse-demo-2026!"}
    )
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session


def test_it_sends_anonymous_admin_visits_to_allauth_with_next(db):
    response = Client().get(reverse("admin:index"), follow=True)
    final_url = unquote(response.redirect_chain[-1][0])
    assert final_url.startswith(reverse("account_login")) and final_url.endswith(
        "next=" + reverse("admin:index")
    )
    assert response.status_code == 200


def test_it_holds_unenrolled_staff_at_the_gate(db):
    admin = UserFactory(kind=UserKind.OPERATOR_ADMIN, national_id="", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    assert client.get(reverse("admin:index"))["Location"] == reverse("accounts:mfa-required")


def test_it_opens_the_admin_to_an_enrolled_superuser(db):
    admin = UserFactory(kind=UserKind.OPERATOR_ADMIN, national_id="", is_staff=True, is_superuser=True)
    enrol_totp(admin)
    client = Client()
    client.force_login(admin)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:login"))["Location"] == reverse("admin:index")


def test_it_hides_the_admin_from_non_superusers(alice_client):
    assert alice_client.get(reverse("admin:login")).status_code == 404
    assert alice_client.get(reverse("admin:index"), follow=True).status_code == 404
