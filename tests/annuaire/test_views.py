"""Directory page and autocomplete endpoint: access control, rate limit, audit, fragments, query counts."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
SEARCH = reverse("annuaire:search")
SUGGEST = reverse("annuaire:autocomplete")


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()  # this test run's own Redis database (TEST_REDIS_DB)
    yield


def test_it_shows_results_with_addresses_and_kind_badges(alice_client, imported_directory):
    response = alice_client.get(SEARCH, {"q": "cardiologue", "place": "Lyon"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Annuaire Santé" in page and "badge-kind-per" in page and "badge-kind-org" in page
    assert "@" in page and "LYON" in page
    assert response["Server-Timing"].startswith("app;dur=")


def test_it_returns_only_the_results_fragment_to_htmx(alice_client, imported_directory):
    response = alice_client.get(SEARCH, {"q": "morel"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "directory-results" in body and "MOREL" in body


def test_it_answers_autocomplete_in_json(alice_client, imported_directory):
    response = alice_client.get(SUGGEST, {"q": "morel elo"})
    assert response.status_code == 200 and response["Server-Timing"].startswith("app;dur=")
    first = response.json()["results"][0]
    assert first == {
        "address": "elodie.morel@activbiolab.mssante.fr",
        "name": "Élodie MOREL",
        "profession": "Orthophoniste",
        "specialty": "",
        "structure": "CENTRE HOSPITALIER LYON",
        "service": "",
        "town": "LYON",
        "postcode": "69003",
        "kind": "PER",
        "kind_label": "Personnelle",
    }


def test_it_answers_autocomplete_with_an_htmx_fragment(alice_client, imported_directory):
    response = alice_client.get(SUGGEST, {"q": "pharmacie brest"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and 'class="suggestion"' in body and "badge-kind-org" in body
    assert 'data-address="pharmacie.1@activbiolab.mssante.fr"' in body


def test_it_lets_staff_and_operator_admins_search(bob_client, admin_client_olga, imported_directory):
    assert bob_client.get(SEARCH, {"q": "morel"}).status_code == 200
    assert admin_client_olga.get(SUGGEST, {"q": "morel"}).status_code == 200


def test_it_refuses_patients(patient_paul, imported_directory):
    client = Client()
    client.force_login(patient_paul)
    assert client.get(SEARCH, {"q": "morel"}).status_code == 403
    refused = client.get(SUGGEST, {"q": "morel"})
    assert refused.status_code == 403 and "réservée aux professionnels" in refused.json()["error"]
    assert not AuditEvent.objects.filter(action="annuaire.searched").exists()


def test_it_refuses_anonymous_visitors(client, imported_directory):
    page = client.get(SEARCH, {"q": "morel"})
    assert page.status_code == 302 and reverse("account_login") in page["Location"]
    assert client.get(SUGGEST, {"q": "morel"}).status_code == 403


def test_it_rate_limits_queries_per_user(alice_client, charlie_client, imported_directory, settings):
    settings.ANNUAIRE_SEARCH_RATE_PER_MINUTE = 3
    for _ in range(3):
        assert alice_client.get(SUGGEST, {"q": "morel"}).status_code == 200
    refused = alice_client.get(SUGGEST, {"q": "morel"})
    assert refused.status_code == 429 and "trop de recherches" in refused.json()["error"]
    page = alice_client.get(SEARCH, {"q": "morel"})
    assert page.status_code == 429 and "Merci de patienter une minute" in page.content.decode()
    assert charlie_client.get(SUGGEST, {"q": "morel"}).status_code == 200  # per user, not global


def test_it_audits_each_query_with_its_criteria_only(alice_client, dr_alice, imported_directory):
    alice_client.get(SEARCH, {"q": "cardiologue", "place": "Lyon", "kind": "PER"})
    alice_client.get(SUGGEST, {"q": "dupond"})
    events = list(AuditEvent.objects.filter(action="annuaire.searched").order_by("id"))
    assert [event.actor_id for event in events] == [dr_alice.pk, dr_alice.pk]
    assert events[0].details == {
        "via": "page",
        "criteria": {"q": "cardiologue", "place": "Lyon", "kind": "PER"},
    }
    assert events[1].details == {"via": "autocomplete", "criteria": {"q": "dupond"}}


def test_it_shows_the_empty_form_without_querying_or_auditing(alice_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = alice_client.get(SEARCH)
    assert response.status_code == 200 and 'name="q"' in response.content.decode()
    assert not [query for query in captured.captured_queries if "annuaire_baladdress" in query["sql"]]
    assert not AuditEvent.objects.filter(action="annuaire.searched").exists()


def test_it_uses_a_constant_number_of_queries(alice_client, imported_directory):
    alice_client.get(SEARCH, {"q": "morel"})  # warm-up: session, user
    # One lexicon look-up per typed word (typo tolerance) plus one query for the whole page, whatever the
    # number of results ("infirmier" matches many more BALs than "morel").
    few, few_directory = _count(alice_client, {"q": "morel"})
    many, many_directory = _count(alice_client, {"q": "infirmier"})
    assert few == many
    assert few_directory == many_directory == 1


def _count(client, params) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(SEARCH, params)
    assert response.status_code == 200
    queries = [query["sql"] for query in captured.captured_queries]
    return len(queries), len([sql for sql in queries if 'FROM "annuaire_baladdress"' in sql])
