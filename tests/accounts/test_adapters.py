"""allauth adapters: the last strong factor stays, French messages."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import DeactivateTOTPForm

from apps.accounts.adapters import AccountAdapter, MFAAdapter
from apps.accounts.models import UserKind
from tests.factories import UserFactory, enrol_totp


def test_it_refuses_to_remove_the_last_strong_factor_of_a_professional(dr_alice):
    totp = Authenticator.objects.get(user=dr_alice, type=Authenticator.Type.TOTP)
    assert MFAAdapter().can_delete_authenticator(totp) is False
    form = DeactivateTOTPForm(data={}, authenticator=totp)
    assert not form.is_valid()
    assert "au moins une application" in str(form.errors)


def test_it_allows_removing_a_factor_when_another_remains(dr_alice):
    totp = Authenticator.objects.get(user=dr_alice, type=Authenticator.Type.TOTP)
    Authenticator.objects.create(user=dr_alice, type=Authenticator.Type.WEBAUTHN, data={"name": "Clé"})
    assert MFAAdapter().can_delete_authenticator(totp) is True


def test_it_lets_a_patient_remove_an_optional_factor(db):
    patient = UserFactory(kind=UserKind.PATIENT, national_id="")
    enrol_totp(patient)
    totp = Authenticator.objects.get(user=patient, type=Authenticator.Type.TOTP)
    assert MFAAdapter().can_delete_authenticator(totp) is True


def test_it_never_opens_self_service_signup(rf):
    assert AccountAdapter().is_open_for_signup(rf.get("/")) is False
