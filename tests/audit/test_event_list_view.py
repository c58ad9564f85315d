"""The operator admins' journal search page (journal/)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import do_seal_pending
from tests.audit.support import make_event

URL = reverse("audit:event-list")


@pytest.fixture
def journal(db):
    """A small journal: two actors, two BALs, some failures, one old event."""
    return {
        "login": make_event(
            "auth.login", actor_id=1, actor_label="alice.martin@demo.mssante.fr", ip="192.0.2.10"
        ),
        "failed": make_event(
            "auth.login_failed",
            outcome="failure",
            actor_label="alice.martin@demo.mssante.fr",
            ip="198.51.100.9",
        ),
        "read": make_event(
            "message.read",
            actor_id=2,
            actor_label="bob.leroy@demo.mssante.fr",
            mailbox_id=42,
            mailbox_label="cardiologie@chu-demo.mssante.fr",
            target_type="mail.message",
            target_id="77",
        ),  # fmt: skip
        "old": make_event(
            "message.deleted", days_ago=40, actor_label="bob.leroy@demo.mssante.fr", mailbox_id=7
        ),
    }


def _ids(response) -> list[int]:
    return [event.id for event in response.context["page"].events]


def test_it_lists_events_newest_first_with_their_seal_status(admin_client_olga, journal):
    do_seal_pending()
    late = make_event("auth.logout", actor_label="alice.martin@demo.mssante.fr")

    response = admin_client_olga.get(URL)

    assert response.status_code == 200
    ids = [
        event_id for event_id in _ids(response) if event_id in {e.id for e in journal.values()} | {late.id}
    ]
    assert ids == sorted(ids, reverse=True)
    body = response.content.decode()
    assert "Scellé (n° 1)" in body and "En attente de scellement" in body
    assert "cardiologie@chu-demo.mssante.fr" in body and "<html" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "BOB.leroy"}, ["old", "read"]),
        ({"mailbox": "cardiologie"}, ["read"]),
        ({"mailbox": "7"}, ["old"]),
        ({"action": "auth.login_failed"}, ["failed"]),
        ({"outcome": "failure"}, ["failed"]),
        ({"ip": "192.0.2.10"}, ["login"]),
        ({"actor": "bob", "date_to": "DAYS_AGO_30"}, ["old"]),
        ({"actor": "bob", "date_from": "DAYS_AGO_1"}, ["read"]),
    ],
)
def test_it_filters_events(admin_client_olga, journal, query, expected):
    today = timezone.localdate()
    days = {"DAYS_AGO_30": today - dt.timedelta(days=30), "DAYS_AGO_1": today - dt.timedelta(days=1)}
    query = {key: str(days.get(value, value)) for key, value in query.items()}

    response = admin_client_olga.get(URL, query)

    assert response.status_code == 200
    assert _ids(response) == [journal[name].id for name in expected]


def test_it_pages_with_a_before_link(admin_client_olga, db):
    events = [make_event("message.sent", actor_label="alice.martin@demo.mssante.fr") for _ in range(55)]

    first = admin_client_olga.get(URL, {"actor": "alice"})
    assert _ids(first) == [event.id for event in reversed(events)][:50]
    assert f"actor=alice&amp;before={events[5].id}" in first.content.decode()

    second = admin_client_olga.get(
        URL, {"actor": "alice", "before": events[5].id}, headers={"HX-Request": "true"}
    )
    assert _ids(second) == [event.id for event in reversed(events[:5])]
    assert "<html" not in second.content.decode()  # the htmx partial: results table only
    assert "Plus anciens" not in second.content.decode()


def test_it_records_the_search_in_the_journal(admin_client_olga, admin_olga, journal):
    admin_client_olga.get(URL, {"actor": "bob", "outcome": "success"})

    searched = AuditEvent.objects.get(action="audit.searched")
    assert searched.actor_id == admin_olga.pk
    assert searched.details["filters"] == {"actor": "bob", "outcome": "success"}
    assert searched.details["shown"] == 2


def test_it_explains_invalid_filters(admin_client_olga, journal):
    response = admin_client_olga.get(URL, {"date_from": "2026-05-02", "date_to": "2026-05-01", "ip": "nope"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "postérieure ou égale à la date de début" in body
    assert response.context["page"].events == []
    assert not AuditEvent.objects.filter(action="audit.searched").exists()


def test_it_is_hidden_from_other_users(alice_client, client, journal):
    assert alice_client.get(URL).status_code == 404
    assert alice_client.get(reverse("audit:event-export")).status_code == 404
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_its_query_count_does_not_grow_with_the_page(admin_client_olga, django_assert_max_num_queries, db):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            admin_client_olga.get(URL, {"action": "message.read"})
        return len(captured)

    for index in range(50):
        if index == 5:
            admin_client_olga.get(URL)  # warm the session
            small_page = queries_for_page()
        make_event(
            "message.read", actor_label=f"user{index}@demo.mssante.fr", mailbox_id=index, ip="192.0.2.1"
        )

    # session, user, second-factor check, actions, one page of events, the "audit.searched" insert, session
    # save, the test transaction's savepoints around both writes, and what base.html's navigation reads.
    with django_assert_max_num_queries(14):
        response = admin_client_olga.get(URL, {"action": "message.read"})

    assert len(response.context["page"].events) == 50
    assert queries_for_page() == small_page
