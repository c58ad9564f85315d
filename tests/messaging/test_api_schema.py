"""The OpenAPI document of the applicative API: valid OpenAPI 3.1, in step with the URL conf, and true to
what the endpoints really answer (responses validated against the component schemas)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from apps.messaging.delivery.deliver import do_deposit
from tests.messaging.helpers import PDF, pdf_part, send

pytestmark = pytest.mark.django_db

META_ROUTES = {"openapi", "docs"}  # the description itself and its readable page


@pytest.fixture
def document(client) -> dict:
    response = client.get(reverse("api:openapi"))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def _api_routes() -> dict[str, str]:
    """OpenAPI path template of every named route of the `api` namespace."""
    resolver = next(
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "api"
    )
    routes = {}
    for pattern in resolver.url_patterns:
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        routes[pattern.name] = "/" + route
    return routes


def test_it_serves_a_valid_openapi_31_document(document):
    validate(document)  # raises on any violation of the OpenAPI 3.1 specification
    assert document["openapi"] == "3.1.0"
    assert document["servers"][0]["url"].endswith("/api/v1")
    assert set(document["components"]["securitySchemes"]) == {"bearerToken", "clientCertificate"}


def test_it_describes_every_route_and_only_those(document):
    routes = {name: path for name, path in _api_routes().items() if name not in META_ROUTES}
    assert set(document["paths"]) == set(routes.values())
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids)) == 6
    for path, item in document["paths"].items():
        declared = {p["name"] for op in item.values() for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path


def _check(document: dict, schema_name: str, instance: dict) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    errors = list(OAS31Validator(schema).iter_errors(instance))
    assert not errors, [error.message for error in errors]
    declared = document["components"]["schemas"][schema_name]
    properties = dict(declared.get("properties", {}))
    for part in declared.get("allOf", []):
        target = part
        if "$ref" in part:
            target = document["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
        properties.update(target.get("properties", {}))
    assert set(instance) <= set(properties), set(instance) - set(properties)  # nothing undocumented


def test_the_answers_match_the_document(document, lab_bal, alice_bal, dr_alice):
    mailbox, token = lab_bal
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    payload = {
        "to": [alice_bal.address],
        "subject": "Compte rendu",
        "body": "Texte",
        "attachments": [{"filename": "cr.pdf", "content_base64": base64.b64encode(PDF).decode()}],
    }
    submitted = api.post(reverse("api:messages"), json.dumps(payload), content_type="application/json")
    _check(document, "Submission", submitted.json())
    _check(
        document, "Submission", api.get(reverse("api:message-detail", args=[submitted.json()["id"]])).json()
    )
    message = send(
        alice_bal, dr_alice, [alice_bal.address], deliver=False, subject="Demande", attachments=[pdf_part()]
    )
    copy = do_deposit(message, mailbox.pk)
    _check(document, "InboxPage", api.get(reverse("api:inbox")).json())
    _check(document, "InboxMessage", api.get(reverse("api:inbox-detail", args=[copy.pk])).json())
    _check(document, "Processed", api.post(reverse("api:inbox-processed", args=[copy.pk])).json())
    _check(document, "Problem", api.get(reverse("api:inbox"), {"limit": "0"}).json())
    _check(document, "Problem", Client().get(reverse("api:inbox")).json())


def test_it_has_a_readable_documentation_page_without_script(client):
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/inbox/{copy_id}/processed" in page and "submitMessage" in page
    assert "<script>" not in page and "onclick" not in page
