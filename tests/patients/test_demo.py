"""The demo of `make run`: Paul's activated MSS-C space with a letter; seeding twice changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.messaging.models import Message, MessageCopy
from apps.patients.models import PatientProfile, ProfileState
from apps.patients.selectors import list_exchanges_about, search_pharmacies

pytestmark = pytest.mark.django_db


def _seed() -> None:
    call_command("seed_demo", stdout=StringIO())


def test_it_opens_pauls_space_with_a_letter_and_an_exchange_about_him():
    _seed()
    profile = PatientProfile.objects.get(user__email="paul.bernard@example.test")
    assert profile.state == ProfileState.ACTIVATED and profile.address == "279035121518989@patient.mssante.fr"
    assert MessageCopy.objects.filter(mailbox=profile.mailbox, message__has_attachments=True).count() == 1
    assert [exchange.sender for exchange in list_exchanges_about(profile)] == ["Alice Martin"]
    assert search_pharmacies("")  # the demo officine BAL Paul can write to


def test_it_changes_nothing_when_seeded_twice():
    _seed()
    before = (PatientProfile.objects.count(), Message.objects.count(), MessageCopy.objects.count())
    _seed()
    assert (PatientProfile.objects.count(), Message.objects.count(), MessageCopy.objects.count()) == before
