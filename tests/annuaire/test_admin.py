"""The directory in the admin is read-only: rows change only through imports and audited services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.annuaire.models import BalAddress
from tests.factories import enrol_totp

pytestmark = pytest.mark.django_db


def test_it_lists_the_directory_read_only(imported_directory):
    root = User.objects.create_superuser("root@demo.mssante.fr", "Motdepasse-demo-2026!")
    enrol_totp(root)
    client = Client()
    client.force_login(root)
    listing = client.get(reverse("admin:annuaire_baladdress_changelist"), {"q": "pharmacie.1@"})
    assert listing.status_code == 200 and "pharmacie.1@activbiolab.mssante.fr" in listing.content.decode()
    bal = BalAddress.objects.get(address="pharmacie.1@activbiolab.mssante.fr")
    detail = client.get(reverse("admin:annuaire_baladdress_change", args=[bal.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:annuaire_baladdress_add")).status_code == 403
