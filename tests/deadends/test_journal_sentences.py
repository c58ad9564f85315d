"""Journal: a plain French sentence for every event type the code can emit (issue 14, item 8).

The event types come from reading the source (tests/deadends/event_scan.py), never from a hand-written list:
a new `record_event("x.y", …)` without a sentence in apps/audit/event_types.py fails here.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.event_types import EVENT_TYPES, sentence_for
from apps.audit.services import record_event
from tests.deadends.event_scan import emitted_event_types


def test_the_scan_finds_the_event_types_of_every_app():
    found = emitted_event_types()
    assert len(found) > 80  # the scan itself works
    assert {
        "message.read",
        "auth.login",
        "annuaire.searched",
        "message.flagged",
        "mailbox.suspended",
    } <= found


def test_every_event_type_the_code_can_emit_has_a_sentence():
    missing = sorted(emitted_event_types() - set(EVENT_TYPES))
    assert missing == [], f"add a French sentence to apps/audit/event_types.py for: {missing}"


@pytest.mark.parametrize("action", sorted(EVENT_TYPES))
def test_every_sentence_renders_in_french(action):
    text = sentence_for(action, actor_label="Bob Leroy", mailbox_label="secretariat.cardio@demo.mssante.fr")
    assert text.endswith(".") and "{" not in text and action not in text
    alone = sentence_for(action)
    assert "{" not in alone and "  " not in alone


@pytest.mark.django_db
def test_the_journal_page_shows_sentences_not_codes(admin_client_olga, dr_alice, cardio_bal):
    record_event("message.read", actor=dr_alice, mailbox=cardio_bal, target=cardio_bal)
    record_event("annuaire.searched", actor=dr_alice, details={"q": "x"})
    html = admin_client_olga.get(reverse("audit:event-list")).content.decode()
    assert "a consulté un message dans la BAL secretariat.cardio@demo.mssante.fr." in html
    assert "a fait une recherche dans l&#x27;annuaire." in html
    assert "<code>annuaire.searched</code>" not in html
    assert "mailboxes.mailbox n°" not in html
