"""Fixtures of the patients tests: Paul's MSS-C profile, stored messages of a thread, a pharmacy BAL."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.messaging.models import Message, Origin
from apps.patients.models import PatientProfile
from apps.patients.services import do_open_profile
from tests.factories import enrol_totp

PAUL_INS = "279035121518989"
PAUL_ADDRESS = f"{PAUL_INS}@patient.mssante.fr"
CORSICAN_INS = "269022A00400188"
_ids = itertools.count(1)


def stored_message(
    sender: str,
    to: list[str],
    *,
    in_reply_to: Message | None = None,
    is_fin: bool = False,
    from_mailbox: Any = None,
    patient_ins: str = "",
) -> Message:
    """A message row as messaging stores it (content fields are opaque here: the rules never read them)."""
    parent_refs = (in_reply_to.references.split() + [in_reply_to.message_id]) if in_reply_to else []
    return Message.objects.create(
        origin=Origin.WEBMAIL,
        message_id=f"<{next(_ids)}.{uuid.uuid4().hex[:8]}@demo.mssante.fr>",
        in_reply_to=in_reply_to.message_id if in_reply_to else "",
        references=" ".join(parent_refs),
        sender_address=sender,
        from_mailbox=from_mailbox,
        to_addresses=to,
        sha256="0" * 64,
        subject_enc=b"",
        snippet_enc=b"",
        body_text_enc=b"",
        is_fin=is_fin,
        patient_ins=patient_ins,
    )


@pytest.fixture
def paul_profile(patient_paul: User) -> PatientProfile:
    return do_open_profile(user=patient_paul, ins=PAUL_INS, activate=True, acting_user=None)


@pytest.fixture
def open_paul_profile(patient_paul: User) -> PatientProfile:
    return do_open_profile(user=patient_paul, ins=PAUL_INS, acting_user=None)


@pytest.fixture
def paul_client(paul_profile: PatientProfile) -> Client:
    enrol_totp(paul_profile.user)
    client = Client()
    client.force_login(paul_profile.user)
    return client
