"""The personas of docs/design.md as fixtures (healthchecks-style alice/bob/charlie).

`dr_alice` GP with a nominative BAL, `sec_bob` secretary of the cardiology organisational BAL, `charlie`
an outsider professional, `patient_paul` an MSS-C patient, `pharma_ines` pharmacist, `admin_olga` operator
admin. Users are created with a second factor already enrolled (tests of the enrolment itself use
`UserFactory` directly); `*_client` fixtures are Django test clients logged in as the persona.
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User, UserKind
from tests.factories import UserFactory, enrol_totp


def _persona(email: str, first: str, last: str, kind: str, national_id: str = "") -> User:
    user = UserFactory(email=email, first_name=first, last_name=last, kind=kind, national_id=national_id)
    enrol_totp(user)
    return user


@pytest.fixture
def dr_alice(db) -> User:
    return _persona("alice.martin@demo.mssante.fr", "Alice", "Martin", UserKind.PROFESSIONAL, "810001234565")


@pytest.fixture
def sec_bob(db) -> User:
    return _persona("bob.leroy@demo.mssante.fr", "Bob", "Leroy", UserKind.STAFF)


@pytest.fixture
def charlie(db) -> User:
    return _persona(
        "charlie.petit@demo.mssante.fr", "Charlie", "Petit", UserKind.PROFESSIONAL, "810002345675"
    )


@pytest.fixture
def pharma_ines(db) -> User:
    return _persona("ines.roux@demo.mssante.fr", "Inès", "Roux", UserKind.PROFESSIONAL, "810003456786")


@pytest.fixture
def patient_paul(db) -> User:
    return UserFactory(
        email="paul.bernard@example.test",
        first_name="Paul",
        last_name="Bernard",
        kind=UserKind.PATIENT,
        national_id="",
    )


@pytest.fixture
def admin_olga(db) -> User:
    return _persona("olga.admin@demo.mssante.fr", "Olga", "Admin", UserKind.OPERATOR_ADMIN)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(dr_alice: User) -> Client:
    return _client_for(dr_alice)


@pytest.fixture
def bob_client(sec_bob: User) -> Client:
    return _client_for(sec_bob)


@pytest.fixture
def charlie_client(charlie: User) -> Client:
    return _client_for(charlie)


@pytest.fixture
def admin_client_olga(admin_olga: User) -> Client:
    return _client_for(admin_olga)
