"""`manage.py patient_profile`: the operator opens, activates, closes and shows a patient's MSS-C space."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.patients.models import PatientProfile, ProfileState
from tests.patients.conftest import PAUL_INS


def _run(*args: str) -> str:
    out = StringIO()
    call_command("patient_profile", *args, stdout=out)
    return out.getvalue()


def test_it_opens_activates_and_closes_a_profile(patient_paul):
    opened = _run("open", "--email", patient_paul.email, "--ins", PAUL_INS, "--birth-date", "2012-05-01")
    assert "279035121518989@patient.mssante.fr" in opened and "ouvert" in opened and "(mineur)" in opened
    assert "activé" in _run("activate", "--ins", PAUL_INS)
    assert "fermé" in _run("close", "--email", patient_paul.email)
    assert PatientProfile.objects.get().state == ProfileState.CLOSED


def test_it_refuses_bad_input_with_a_french_message(patient_paul, dr_alice):
    with pytest.raises(CommandError, match="clé de contrôle"):
        _run("open", "--email", patient_paul.email, "--ins", "279035121518988")
    with pytest.raises(CommandError, match="Aucun compte patient"):
        _run("open", "--email", dr_alice.email, "--ins", PAUL_INS)
    with pytest.raises(CommandError, match="Aucune messagerie patient"):
        _run("show", "--ins", PAUL_INS)
