"""The admin views built on ReadOnlyAdmin list their rows but offer no add, change or delete."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from tests.factories import enrol_totp

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model",
    ["gateway_inboundmessage", "trust_trusteddomain", "trust_listeblancherefresh", "annuaire_structure"],
)
def test_it_lists_but_neither_adds_nor_deletes(model):
    root = User.objects.create_superuser("root@demo.mssante.fr", "Motdepasse-demo-2026!")
    enrol_totp(root)
    client = Client()
    client.force_login(root)
    listing = client.get(reverse(f"admin:{model}_changelist"))
    assert listing.status_code == 200
    assert reverse(f"admin:{model}_add") not in listing.content.decode()
    assert client.get(reverse(f"admin:{model}_add")).status_code == 403
