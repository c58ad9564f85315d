"""The BAL journal and the operator's journal speak French: field names, values and event types in words."""

from __future__ import annotations

from apps.audit.event_types import label_for
from apps.audit.forms import JournalFilterForm
from apps.mailboxes.labels import action_label, change_lines


def test_a_change_reads_as_french_labels_and_values():
    details = {
        "changes": {
            "kind": {"old": None, "new": "organisational"},
            "owner": {"old": None, "new": "12"},
            "liste_rouge": {"old": None, "new": False},
            "service": {"old": None, "new": ""},  # nothing shown: empty before and after
            "role": {"old": "read", "new": "send"},
        }
    }
    assert change_lines(details) == [
        "type de BAL : — → Organisationnelle",
        "titulaire : — → renseigné",
        "liste rouge (non publiée) : — → non",
        "rôle : Lecture → Lecture et envoi",
    ]
    assert change_lines({}) == []


def test_an_event_outside_the_bal_actions_shows_its_sentence_not_its_code():
    assert action_label("mailbox.suspended") == "Suspension de la BAL"
    label = action_label("message.read", actor_label="Bob Leroy")
    assert label.startswith("Bob Leroy ") and "message.read" not in label


def test_the_journal_filter_offers_event_types_in_words():
    form = JournalFilterForm(actions=["mailbox.created", "auth.login"])
    choices = dict(form.fields["action"].choices)  # type: ignore[attr-defined]
    assert choices["auth.login"] == label_for("auth.login") == "… s'est connecté(e)"
    assert "auth.login" not in choices.values()
