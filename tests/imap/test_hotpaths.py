"""The IMAP hot paths measured by bench/bench_imap.py: SELECT without work proportional to the folder while
removals are announced, FETCH ENVELOPE from the stored headers without the email package's full address
parser for plain addresses, one shared map refresh for every IDLE session woken by one announcement, the
migration's numbering continuing by keyset and timing its batches."""

from __future__ import annotations

import asyncio
from email.message import Message as MimeMessage
from email.utils import getaddresses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.imap import fetching, uidmap
from apps.imap.push import Listener
from apps.messaging.models import Folder, FolderRole, MessageCopy
from apps.messaging.store import uids
from tests.asyncrun import run_coroutine
from tests.messaging.helpers import send

ADDRESSES = [
    "Dr Jean Dupont <jean.dupont@hop.mssante.fr>",
    "a@b.fr",
    "a@b.fr, Zoé Ü <z@c.fr>",
    " <x@y.fr> ",
    "Éloïse Martin <e.m@x.fr>,c@d.fr",
    '"Dupont, Jean" <j@x.fr>',
    "Jean (cabinet) <j@x.fr>",
    "undisclosed-recipients:;",
    "foo",
    "A <a@b> <c@d>",
    "a@b@c",
    "<>",
    "Name <x@y.fr>,",
    "=?utf-8?q?Z=C3=A9?= <z@x.fr>",
    "Jean.Dupont <j@x.fr>",
]


@pytest.mark.parametrize("value", ADDRESSES)
def test_plain_address_fast_path_parses_like_the_email_package(value):
    assert fetching._pairs([value]) == getaddresses([value])


def test_envelope_from_stored_header_pairs_equals_the_mime_one():
    pairs = [
        ["From", "Dr Jean Dupont <jean.dupont@hop.mssante.fr>"],
        ["To", "a@b.fr, Zoé Ü <z@c.fr>"],
        ["cc", '"Dupont, Jean" <j@x.fr>'],
        ["Subject", "Compte rendu – été"],
        ["Date", "Sun, 06 Dec 2026 10:00:00 +0100"],
        ["Message-ID", "<m1@hop.mssante.fr>"],
    ]
    mime = MimeMessage()
    for name, value in pairs:
        mime[name] = value
    assert fetching.envelope(fetching.HeaderPairs(pairs)) == fetching.envelope(mime)


@pytest.fixture
def inbox(alice_bal, sec_bob, cardio_bal):
    for index in range(3):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text="Bonjour")
    uidmap.clear()
    yield Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    uidmap.set_listening(False)
    uidmap.clear()


def test_select_counts_the_folder_only_without_a_listener(inbox):
    view, uidnext = uidmap.current_with_uidnext(inbox.pk, True)  # loads the shared map
    assert view.count == 3 and uidnext == inbox.uidnext
    with CaptureQueriesContext(connection) as unannounced:
        uidmap.current_with_uidnext(inbox.pk, True)
    assert any("count(*)" in q["sql"] for q in unannounced.captured_queries)
    uidmap.set_listening(True)
    with CaptureQueriesContext(connection) as announced:
        view, uidnext = uidmap.current_with_uidnext(inbox.pk, True)
    assert len(announced.captured_queries) == 1  # UIDNEXT and the newer UIDs, nothing per message
    assert view.count == 3 and uidnext == inbox.uidnext


def test_a_removal_marked_stale_is_seen_at_the_next_select(inbox):
    uidmap.set_listening(True)
    uidmap.current_with_uidnext(inbox.pk, True)
    gone = MessageCopy.objects.filter(folder=inbox).order_by("uid").first()
    MessageCopy.objects.filter(pk=gone.pk).delete()
    uidmap.mark_stale(inbox.pk)  # what the listener does on a `d:` announcement
    view, _uidnext = uidmap.current_with_uidnext(inbox.pk, True)
    assert view.count == 2 and view.number_of(gone.uid) is None


def test_sessions_woken_by_one_announcement_share_one_refresh():
    calls = []

    async def run_db_read(fn, folder_id):
        calls.append(folder_id)
        await asyncio.sleep(0.01)
        return uidmap.View(uidmap.array("q", [1, 2]), 2)

    async def scenario():
        listener = Listener(lambda: [])
        listener.dispatch("n:7")
        views = await asyncio.gather(*(listener.refreshed_view(7, run_db_read) for _ in range(50)))
        assert all(v.count == 2 for v in views)
        assert calls == [7]
        listener.dispatch("n:7")  # a later announcement: a refresh started after it
        await listener.refreshed_view(7, run_db_read)
        assert calls == [7, 7]

    run_coroutine(scenario())  # not asyncio.run(): a browser test may have left Playwright's loop running


def test_numbering_continues_by_keyset_and_times_each_batch(alice_bal, sec_bob, cardio_bal):
    for index in range(5):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Ancien {index}", text="x")
    MessageCopy.objects.filter(mailbox=alice_bal).update(uid=None)
    Folder.objects.filter(mailbox=alice_bal).update(uidnext=1)
    # A copy deposited during the migration already has its UID: skipped, never renumbered.
    kept = MessageCopy.objects.filter(mailbox=alice_bal).order_by("received_at", "id")[2]
    MessageCopy.objects.filter(pk=kept.pk).update(uid=1000)
    timings: list[float] = []
    assert uids.number_existing(batch=2, timings=timings) == 4
    assert len(timings) == 3 and all(t >= 0 for t in timings)
    numbered = list(
        MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
        .order_by("received_at", "id")
        .values_list("uid", flat=True)
    )
    assert numbered == [1, 2, 1000, 3, 4]


# ---- SELECT and FETCH ENVELOPE query counts (bench/bench_imap.py's round): a regression fails here ------

ENVELOPE_LIST = "a FETCH 1:50 (UID FLAGS ENVELOPE INTERNALDATE RFC822.SIZE)"


def _select_and_fetch_queries(user_id: int, name: str) -> tuple[int, int, list]:
    """Queries of SELECT's and FETCH's database work (what runs in the server's database thread), with the
    shared UID map loaded and the push listener connected, as in a running server."""
    from apps.imap.commands import parse_command
    from apps.imap.handlers.mailbox import _select
    from apps.imap.handlers.messages import _fetch

    uidmap.set_listening(True)
    folder, view, _uidnext, _modseq = _select(user_id, name)  # warm: the map, the BAL key cache
    atts = parse_command(ENVELOPE_LIST.encode()).args["atts"]
    uids = view.all_uids()[-50:]
    _fetch(folder, user_id, uids, atts, False, False)
    with CaptureQueriesContext(connection) as selecting:
        folder, view, _uidnext, _modseq = _select(user_id, name)
    with CaptureQueriesContext(connection) as fetching_:
        answer = _fetch(folder, user_id, uids, atts, False, False)
    assert len(answer) == view.count > 0
    return len(selecting.captured_queries), len(fetching_.captured_queries), answer


def test_select_and_fetch_envelope_query_counts_are_pinned(inbox):
    # SELECT: ONE statement — the access counter that proves the person's kept folder list current
    # (apps/imap/access.py: the person, their BALs and folders are not read again), the UID map's UIDNEXT
    # and newer UIDs, the flag stamp sequence's value and the folder's highest stamp.
    # FETCH of the message list: one query for every message, whatever their number.
    selecting, fetching_, _answer = _select_and_fetch_queries(inbox.mailbox.owner_id, "INBOX")
    assert (selecting, fetching_) == (1, 1)


def test_select_and_fetch_in_a_shared_bal_count_its_membership_and_own_read_marks(
    cardio_bal, sec_bob, alice_bal
):
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Compte rendu", text="Bonjour")
    from apps.imap import folders

    sent = next(f for f in folders.folders_for(sec_bob) if f.role == FolderRole.SENT)
    try:
        selecting, fetching_, _answer = _select_and_fetch_queries(sec_bob.pk, sent.name)
    finally:
        uidmap.set_listening(False)
        uidmap.clear()
    # The membership (`access_mailbox` on an organisational BAL) is read once per kept list; the person's
    # own read marks come in FETCH's one statement.
    assert (selecting, fetching_) == (1, 1)


def test_the_lean_envelope_list_answers_as_the_full_rows_do(inbox):
    from apps.imap import mailstore
    from apps.imap.commands import parse_command

    MessageCopy.objects.filter(folder=inbox).order_by("uid").update(is_flagged=True)
    first = MessageCopy.objects.filter(folder=inbox).order_by("uid").first()
    MessageCopy.objects.filter(pk=first.pk).update(is_read=True, is_answered=True)
    atts = parse_command(ENVELOPE_LIST.encode()).args["atts"]
    uids_ = list(MessageCopy.objects.filter(folder=inbox).order_by("uid").values_list("uid", flat=True))
    lean = mailstore.lean_rows(inbox.pk, inbox.role, uids_, inbox.mailbox.owner_id, False)
    full = mailstore.rows(inbox.pk, uids_, inbox.mailbox.owner_id, False)
    assert [r.flags for r in lean] == [r.flags for r in full]
    assert lean[0].flags == ["\\Seen", "\\Answered", "\\Flagged"]
    assert [fetching.fetch_items(r.copy, r.flags, atts, uid=True) for r in lean] == [
        fetching.fetch_items(r.copy, r.flags, atts, uid=True) for r in full
    ]


def test_a_bal_missing_a_system_folder_gets_it_when_listed(inbox):
    from apps.imap import folders

    user = inbox.mailbox.owner
    MessageCopy.objects.filter(mailbox=inbox.mailbox, folder__role=FolderRole.ARCHIVE).delete()
    Folder.objects.filter(mailbox=inbox.mailbox, role=FolderRole.ARCHIVE).delete()
    assert any(
        f.role == FolderRole.ARCHIVE and f.mailbox_id == inbox.mailbox_id for f in folders.folders_for(user)
    )
    assert Folder.objects.filter(mailbox=inbox.mailbox, role=FolderRole.ARCHIVE).exists()
