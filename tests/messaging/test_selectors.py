"""Selectors of the webmail: cursors, token matching, capped unread counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.store import search_index
from apps.messaging.webmail import selectors
from tests.messaging.helpers import send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]


def test_it_round_trips_a_cursor_to_the_microsecond():
    copy = MessageCopy(pk=42, received_at=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC))
    assert selectors.parse_cursor(selectors.make_cursor(copy)) == (copy.received_at, 42)
    for bad in ("", "abc", "1.", ".5", "1.2.3", "99999999999999999999999.1", "-x.1"):
        assert selectors.parse_cursor(bad) is None, bad


def test_it_matches_hex_tokens_that_look_like_numbers(alice_bal, cardio_bal, dr_alice):
    # The stored index is a tsvector literal; the query must be a literal too (to_tsquery would split
    # `1e5abc…` into the number 1e5 and a word, and miss).
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y")
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    MessageCopy.objects.filter(pk=copy.pk).update(search_tokens="1e5abc0123456789 00ff00ff00ff00ff")
    everywhere = ("folder_id <> %s", -1)
    found = search_index.tsquery([["1e5abc0123456789"], ["0000000000000000", "00ff00ff00ff00ff"]])
    assert selectors._matching_ids(cardio_bal.pk, found, everywhere, 50) == [copy.pk]
    missing = search_index.tsquery([["1e5abc0123456789"], ["0000000000000000"]])
    assert selectors._matching_ids(cardio_bal.pk, missing, everywhere, 50) == []


def test_it_finds_the_newest_matches_in_the_recent_window_or_through_the_index(
    alice_bal, cardio_bal, dr_alice, monkeypatch
):
    subjects = ["Holter ancien", "Échographie récente", "Échographie du jour"]
    for subject in subjects:
        send(alice_bal, dr_alice, [cardio_bal.address], subject=subject, text="x")
    monkeypatch.setattr(selectors, "RECENT_WINDOW", 2)
    # A common word: the two newest copies hold it, found in the window.
    assert [r.subject for r in selectors.search_copies(cardio_bal, "échographie", limit=2)] == subjects[:0:-1]
    # A word only in an old copy, outside the window: found through the index.
    assert [r.subject for r in selectors.search_copies(cardio_bal, "holter", limit=2)] == ["Holter ancien"]


def test_it_caps_unread_counts(alice_bal, cardio_bal, dr_alice, monkeypatch):
    monkeypatch.setattr(selectors, "UNREAD_CAP", 2)
    for number in range(3):
        send(alice_bal, dr_alice, [cardio_bal.address], subject=f"n{number}", text="x")
    entry = next(e for e in selectors.list_folders(cardio_bal) if e.folder.role == FolderRole.INBOX)
    assert entry.unread == 2 and entry.unread_label == "1+"


def test_it_searches_one_folder_or_all_but_the_corbeille(alice_bal, cardio_bal, dr_alice, sec_bob):
    from apps.messaging.webmail.services import do_trash_copies

    kept = send(alice_bal, dr_alice, [cardio_bal.address], subject="Échographie cardiaque", text="x")
    trashed = send(alice_bal, dr_alice, [cardio_bal.address], subject="Échographie abdominale", text="x")
    do_trash_copies(MessageCopy.objects.filter(mailbox=cardio_bal, message=trashed), user=sec_bob)
    found = selectors.search_copies(cardio_bal, "echographie")
    assert [row.copy.message_id for row in found] == [kept.pk]
    trash = selectors.get_system_folder(cardio_bal, FolderRole.TRASH)
    in_trash = selectors.search_copies(cardio_bal, "échographie", folder=trash)
    assert [row.copy.message_id for row in in_trash] == [trashed.pk]
