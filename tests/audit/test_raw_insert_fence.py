"""Fence for the journal's fast INSERT (`record_event` / `record_events` go through `fastsql`, ADR 0014): the
raw row it writes is the row the ORM writes when it saves the event `build_event` makes, column by column as
PostgreSQL stores them, and the sealer would chain both the same way. If a Django upgrade changed how the
ORM stores a column (JSON, inet, timestamps), the journal's two writers would diverge and this fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from apps.audit import context
from apps.audit.chain import CHAIN_FIELDS, canonical_bytes
from apps.audit.models import AuditEvent, Outcome
from apps.audit.services import build_event, record_event, record_events

pytestmark = pytest.mark.django_db


def _raw(event_id: int) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_jsonb(e) FROM audit_auditevent e WHERE e.id = %s", [event_id])
        (row,) = cursor.fetchone()
    stored = json.loads(row) if isinstance(row, str) else row
    assert stored.pop("id") == event_id
    return stored


def _chained(event_id: int) -> bytes:
    """What the sealer would hash for this row, the id aside (the two rows' ids differ by construction)."""
    row = AuditEvent.objects.values(*CHAIN_FIELDS).get(pk=event_id)
    return canonical_bytes({**row, "id": 0}, seal_seq=1)


def _saved_by_the_orm(action: str, occurred_at: Any, **fields: Any) -> AuditEvent:
    event = build_event(action, **fields)
    event.occurred_at = occurred_at
    event.save(force_insert=True)
    return event


CASES: dict[str, dict[str, Any]] = {
    "person, BAL, target, context": {
        "outcome": Outcome.DENIED,
        "details": {"dossier": "Réception", "nombre": 3, "liste": [1, None, "é"], "body": "jamais"},
    },
    "system, no actor": {"actor": None, "target_type": "messaging.delivery", "target_id": 12345678901},
    "anonymous visitor, explicit label": {"actor": AnonymousUser(), "actor_label": "inconnu@exemple.fr"},
}


@pytest.mark.parametrize("case", CASES)
def test_it_writes_the_row_the_orm_writes_for_build_event(case, dr_alice, alice_bal):
    fields: dict[str, Any] = {"actor": dr_alice, "mailbox": alice_bal, "target": alice_bal, **CASES[case]}
    with context.use(context.RequestContext(ip="2001:db8::7", user_agent="Mozilla/5.0 (Macintosh) « é »")):
        fast = record_event("mailbox.opened", **fields)
        orm = _saved_by_the_orm("mailbox.opened", fast.occurred_at, **fields)
    assert fast.pk != orm.pk
    assert _raw(fast.pk) == _raw(orm.pk)
    assert _chained(fast.pk) == _chained(orm.pk)


def test_it_writes_the_rows_the_orm_writes_for_a_batch(dr_alice, alice_bal):
    events = [
        build_event("message.deposited", actor=dr_alice, mailbox=alice_bal, details={"n": n})
        for n in range(3)
    ]
    record_events(events)
    for event in events:
        twin = _saved_by_the_orm(
            "message.deposited", event.occurred_at, actor=dr_alice, mailbox=alice_bal, details=event.details
        )
        assert _raw(event.pk) == _raw(twin.pk)
        assert _chained(event.pk) == _chained(twin.pk)
