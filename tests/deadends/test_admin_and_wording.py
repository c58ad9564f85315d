"""/admin/ for superusers only; one wording for recovery codes; a real contact; no red first button."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import UserKind
from tests.factories import UserFactory, enrol_totp

pytestmark = pytest.mark.django_db


def test_the_operator_admin_does_not_reach_the_django_admin(admin_client_olga):
    assert admin_client_olga.get(reverse("admin:index"), follow=True).status_code == 404
    assert admin_client_olga.get("/admin/accounts/user/", follow=True).status_code == 404


def test_a_staff_member_who_is_not_superuser_does_not_either():
    staff = UserFactory(kind=UserKind.OPERATOR_ADMIN, national_id="", is_staff=True, is_superuser=False)
    enrol_totp(staff)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:index"), follow=True).status_code == 404


def test_the_security_page_says_codes_de_secours_and_starts_with_no_destructive_button(alice_client):
    html = alice_client.get(reverse("mfa_index")).content.decode()
    assert "récupération" not in html
    assert "odes de secours" in html
    content = html.split('id="contenu"', 1)[1]
    first = re.search(r'<(a|button)\b[^>]*class="(btn[^"]*)"', content)
    assert first is not None and "btn-danger" not in first.group(2)
    assert "btn-danger" not in content.split("Désactiver")[0]


@override_settings(SUPPORT_CONTACT="01 23 45 67 89 — support@operateur.example")
def test_the_password_reset_pages_give_a_real_contact(client):
    for name in ("account_reset_password", "account_reset_password_done"):
        html = client.get(reverse(name)).content.decode()
        assert "support@operateur.example" in html, name
        assert "contactez-nous" not in html.lower() and "nous contacter" not in html.lower()
