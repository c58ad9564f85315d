"""UID SEARCH answered with the UIDs joined by PostgreSQL and, for a blind-index word, planned for the blind
index (apps/imap/searching.py): the answer must be exactly the plain query's, whatever the program — checked
with hypothesis on a small folder against the ORM query run as it was before (no settings, no joining),
and on the wire; ESEARCH (RFC 4731) answers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from apps.imap import searching, uidmap
from apps.imap.commands import parse_command
from apps.imap.handlers.mailbox import _select
from apps.imap.handlers.messages import _numbers
from apps.messaging.models import Folder, FolderRole, MessageCopy
from tests.imap.conftest import app_password
from tests.imap.search_programs import programs
from tests.messaging.helpers import send

WORDS = ["échographie", "scanner", "ordonnance", "cardiologie", "écho", "scan", "xylophone", "Bonjour"]
TEXTS = [
    "Bonjour, échographie cardiaque normale",
    "Scanner thoracique et ordonnance",
    "Ordonnance de cardiologie",
    "Échographie et scanner",
    "Bonjour",
    "Cardiologie : compte rendu",
]


@pytest.fixture
def folder(alice_bal, sec_bob, cardio_bal):
    for index, text in enumerate(TEXTS):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text=text)
    inbox = Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    copies = list(MessageCopy.objects.filter(folder=inbox).order_by("uid"))
    MessageCopy.objects.filter(pk__in=[c.pk for c in copies[::2]]).update(is_flagged=True)
    MessageCopy.objects.filter(pk__in=[c.pk for c in copies[1::3]]).update(is_read=True)
    uidmap.set_listening(True)
    yield inbox
    uidmap.set_listening(False)
    uidmap.clear()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs(WORDS, ["FLAGGED", "UNFLAGGED", "SEEN", "UNSEEN", "ALL", "DELETED"], uid_max=7))
def test_the_joined_answer_is_the_plain_query_s(folder, program):
    owner = folder.mailbox.owner_id
    imap_folder, view, _uidnext, _modseq = _select(owner, "INBOX")
    parsed = parse_command(f"a UID SEARCH CHARSET UTF-8 {program}".encode()).args["program"]

    def context():
        return searching.Context(imap_folder.folder_id, imap_folder.mailbox_id, owner, False, view)

    plain = [int(uid) for uid in searching._matching(context(), parsed).order_by("uid")]  # noqa: SLF001
    joined = searching.search_joined(context(), parsed)
    assert joined == " ".join(map(str, plain)).encode()
    assert searching.search(context(), parsed) == plain
    assert _numbers(view, plain) == [view.number_of(uid) for uid in plain]


def test_a_word_in_every_message_and_in_none_over_the_wire(connect, folder):
    owner = folder.mailbox.owner
    every = list(MessageCopy.objects.filter(folder=folder).order_by("uid").values_list("uid", flat=True))
    raw = connect.raw()
    raw.command("a", f"LOGIN {owner.email} {app_password(owner)}")
    raw.command("b", "SELECT INBOX")
    # « Compte » is in every subject: every UID, ascending.
    assert raw.command("c", "UID SEARCH TEXT compte")[0] == (
        b"* SEARCH " + " ".join(map(str, every)).encode() + b"\r\n"
    )
    assert raw.command("d", "UID SEARCH TEXT xylophone")[0] == b"* SEARCH\r\n"
    assert raw.command("e", "SEARCH TEXT compte")[0] == (
        b"* SEARCH " + " ".join(str(n) for n in range(1, len(every) + 1)).encode() + b"\r\n"
    )
    raw.command("f", "LOGOUT")


def test_esearch_answers_min_max_count_and_the_set(connect, folder):
    owner = folder.mailbox.owner
    every = list(MessageCopy.objects.filter(folder=folder).order_by("uid").values_list("uid", flat=True))
    raw = connect.raw()
    raw.command("a", f"LOGIN {owner.email} {app_password(owner)}")
    assert b"ESEARCH" in b"".join(raw.command("b", "CAPABILITY"))
    raw.command("c", "SELECT INBOX")
    assert raw.command("d", "UID SEARCH RETURN (MIN MAX COUNT ALL) TEXT compte")[0] == (
        b'* ESEARCH (TAG "d") UID MIN %d MAX %d COUNT %d ALL %d:%d\r\n'
        % (every[0], every[-1], len(every), every[0], every[-1])
    )
    assert raw.command("e", "SEARCH RETURN () TEXT compte")[0] == b'* ESEARCH (TAG "e") ALL 1:%d\r\n' % len(
        every
    )
    assert (
        raw.command("f", "SEARCH RETURN (COUNT MIN) TEXT xylophone")[0] == b'* ESEARCH (TAG "f") COUNT 0\r\n'
    )
    assert raw.command("g", "UID SEARCH RETURN (COUNT) FLAGGED")[
        0
    ] == b'* ESEARCH (TAG "g") UID COUNT %d\r\n' % len(every[::2])
    assert raw.command("h", "SEARCH RETURN (SAVE) ALL")[0].startswith(b"h BAD")
    raw.command("i", "LOGOUT")
