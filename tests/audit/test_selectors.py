"""Reads used by other pages: a BAL's own journal, the list of actions."""

from apps.audit.selectors import has_stale_unsealed, list_actions, list_mailbox_events
from apps.audit.services import do_seal_pending
from tests.audit.support import make_event


def test_it_lists_one_mailbox_journal_newest_first_by_pages(db):
    mine = [
        make_event("message.read", mailbox_id=42, mailbox_label="cardio@chu-demo.mssante.fr")
        for _ in range(5)
    ]
    make_event("message.read", mailbox_id=43)
    deleted = make_event("message.deleted", mailbox_id=42)

    first = list_mailbox_events(42, limit=4)
    assert [event.id for event in first.events] == [deleted.id, mine[4].id, mine[3].id, mine[2].id]
    second = list_mailbox_events(42, limit=4, before_id=first.next_before)
    assert [event.id for event in second.events] == [mine[1].id, mine[0].id]
    assert second.next_before is None
    assert [event.id for event in list_mailbox_events(42, action="message.deleted").events] == [deleted.id]


def test_it_lists_distinct_actions_sorted(db):
    for action in ("message.sent", "auth.login", "message.sent", "admin.mailbox_updated", "auth.login"):
        make_event(action)

    assert list_actions() == ["admin.mailbox_updated", "auth.login", "message.sent"]


def test_it_lists_no_action_on_an_empty_journal(db):
    assert list_actions() == []


def test_it_probes_for_stale_unsealed_events(db):
    make_event(days_ago=1)
    assert has_stale_unsealed(300)
    do_seal_pending()
    make_event()
    assert not has_stale_unsealed(300)
