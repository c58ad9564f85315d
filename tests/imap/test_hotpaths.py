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

    asyncio.run(scenario())


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
