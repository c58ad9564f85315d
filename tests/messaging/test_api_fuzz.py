"""Whatever a client sends to POST /api/v1/messages, the answer is one the OpenAPI document announces, with a
body that matches its schema — never a 500 (in the spirit of schemathesis, with Hypothesis, derandomised so
the run is the same every time)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator

from apps.messaging.api.schema import openapi_document

pytestmark = pytest.mark.django_db

DOCUMENT = openapi_document("http://testserver/api/v1")
ANNOUNCED = DOCUMENT["paths"]["/messages"]["post"]["responses"]

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30))
_addresses = st.sampled_from(
    ["alice.martin@demo.mssante.fr", "inconnu@demo.mssante.fr", "pas une adresse", "", "x@hors-liste.example"]
)
_field_values = {
    "to": st.one_of(st.lists(_addresses, max_size=3), _scalars),
    "cc": st.one_of(st.lists(_addresses, max_size=2), _scalars),
    "subject": st.one_of(st.text(max_size=60), _scalars),
    "body": st.one_of(st.text(max_size=200), _scalars),
    "patient_ins": st.one_of(st.sampled_from(["255081416802538", "255081416802539", "2A"]), _scalars),
    "read_receipt": _scalars,
    "attachments": st.one_of(
        st.lists(
            st.fixed_dictionaries(
                {"filename": st.text(max_size=20), "content_base64": st.sampled_from(["JVBERi0=", "@@", ""])}
            ),
            max_size=2,
        ),
        _scalars,
    ),
}
_bodies = st.one_of(
    st.fixed_dictionaries({}, optional=_field_values),
    st.lists(_scalars, max_size=3),
    _scalars,
)


def _schema_of(status: int) -> dict:
    content = ANNOUNCED[str(status)]["content"]
    schema = next(iter(content.values()))["schema"]
    return {**schema, "components": DOCUMENT["components"]}


@pytest.fixture
def api(settings_fixture, lab_bal, alice_bal) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {lab_bal[1]}")


@pytest.fixture
def settings_fixture(settings):
    settings.API_RATE_PER_MINUTE = 10_000
    return settings


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies)
def test_it_answers_every_body_as_documented(api, body):
    response = api.post(reverse("api:messages"), json.dumps(body), content_type="application/json")
    assert str(response.status_code) in ANNOUNCED, (response.status_code, body)
    errors = list(OAS31Validator(_schema_of(response.status_code)).iter_errors(response.json()))
    assert not errors, [error.message for error in errors]
