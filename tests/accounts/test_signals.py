"""Journal entries for the second-factor lifecycle, through allauth's own views."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD


def _reauthenticate(client) -> None:
    # allauth asks for the password again before any change to an existing second factor.
    response = client.post(reverse("account_reauthenticate"), {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302


def test_it_journals_regenerated_recovery_codes(alice_client, dr_alice, django_capture_on_commit_callbacks):
    _reauthenticate(alice_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("mfa_generate_recovery_codes"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="mfa.recovery_codes_regenerated", actor_id=dr_alice.pk).exists()


def test_it_journals_a_removed_factor(alice_client, dr_alice, django_capture_on_commit_callbacks):
    Authenticator.objects.create(user=dr_alice, type=Authenticator.Type.WEBAUTHN, data={"name": "Clé USB"})
    _reauthenticate(alice_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=dr_alice, type=Authenticator.Type.TOTP).exists()
    event = AuditEvent.objects.get(action="mfa.authenticator_removed", actor_id=dr_alice.pk)
    assert event.details == {"type": "totp"}


def test_it_refuses_to_remove_the_only_factor_through_the_view(alice_client, dr_alice):
    _reauthenticate(alice_client)
    response = alice_client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 200
    assert "au moins une application" in response.content.decode()
    assert Authenticator.objects.filter(user=dr_alice, type=Authenticator.Type.TOTP).exists()
    assert not AuditEvent.objects.filter(action="mfa.authenticator_removed").exists()
