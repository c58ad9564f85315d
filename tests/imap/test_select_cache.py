"""What SELECT keeps between commands (apps/imap/access.py, selecting.py, envelopes.py): the person's folder
list is used only while the access counter says nothing it reads has changed (the policy then decides
again), the counter does not move for deposits, the newest copies read ahead are read again when their
flags or the folder's UIDNEXT changed, and what FETCH answers from them is what the database path answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.imap import access, envelopes, selecting, uidmap
from apps.imap.commands import parse_command
from apps.imap.handlers.mailbox import _select
from apps.imap.handlers.messages import _fetch
from apps.imap.responses import fetch_response
from apps.mailboxes.models import Mailbox, MailboxMembership, MemberRole
from apps.mailboxes.quotas import do_add_usage
from apps.mailboxes.services_members import do_add_member, do_remove_member
from apps.messaging.models import Folder, FolderRole, MessageCopy
from apps.messaging.webmail.services import do_create_folder, do_rename_folder, do_set_flag
from tests.imap.conftest import app_password
from tests.messaging.helpers import send

LIST_ITEMS = "(UID FLAGS ENVELOPE INTERNALDATE RFC822.SIZE)"


class Quiet:
    """A push listener that announced nothing since any mark (the kept rows are then checked only by
    UIDNEXT and the folder's highest flag stamp, read in SELECT's round trip)."""

    def unchanged_since(self, mark, folder_id):
        return True


@pytest.fixture
def inbox(alice_bal, sec_bob, cardio_bal):
    for index in range(3):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text="Bonjour")
    uidmap.set_listening(True)
    yield Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    uidmap.set_listening(False)
    uidmap.clear()


def test_the_access_counter_moves_for_what_the_folder_list_reads_not_for_deposits(inbox, charlie, cardio_bal):
    start = access.version_now()
    do_add_usage(inbox.mailbox_id, 1000)  # every deposit: the BAL's usage
    Folder.objects.filter(pk=inbox.pk).update(uidnext=inbox.uidnext + 5)  # every deposit: UIDNEXT
    Mailbox.objects.filter(pk=inbox.mailbox_id).update(last_activity_at=None)
    assert access.version_now() == start
    Mailbox.objects.filter(pk=cardio_bal.pk).update(imap_allowed=False)
    assert access.version_now() == start + 1
    do_add_member(cardio_bal, user=charlie, role=MemberRole.SEND, acting_user=None)
    assert access.version_now() == start + 2
    do_create_folder(inbox.mailbox, "Dossiers patients", user=inbox.mailbox.owner)
    assert access.version_now() > start + 2


def test_select_decides_again_once_the_counter_moved(inbox, sec_bob, cardio_bal):
    owner = inbox.mailbox.owner_id
    assert _select(owner, "INBOX") is not None
    assert access.cached(owner) is not None
    Mailbox.objects.filter(pk=inbox.mailbox_id).update(imap_allowed=False)  # turned off elsewhere
    assert _select(owner, "INBOX") is None  # the very next SELECT
    shared = f"Partagés/{cardio_bal.address}"
    assert _select(sec_bob.pk, shared) is not None
    do_remove_member(MailboxMembership.objects.get(mailbox=cardio_bal, user=sec_bob), acting_user=None)
    assert _select(sec_bob.pk, shared) is None


def test_a_folder_created_or_renamed_elsewhere_is_seen_at_the_next_select(inbox):
    owner = inbox.mailbox.owner
    assert _select(owner.pk, "INBOX") is not None  # the list is kept
    folder = do_create_folder(inbox.mailbox, "Biologie", user=owner)  # in the webmail
    assert _select(owner.pk, "Biologie") is not None
    do_rename_folder(folder, "Biologie 2026", user=owner)
    assert _select(owner.pk, "Biologie") is None
    assert _select(owner.pk, "Biologie 2026") is not None


def test_the_newest_copies_kept_are_read_again_when_flags_or_uidnext_change(
    inbox, alice_bal, sec_bob, cardio_bal
):
    owner, quiet = inbox.mailbox.owner, Quiet()
    first = selecting.selection(owner.pk, "INBOX", quiet, (0, 0))
    assert [row.flags for row in first.newest.rows] == [[], [], []]
    with CaptureQueriesContext(connection) as kept:
        again = selecting.selection(owner.pk, "INBOX", quiet, (0, 0))
    assert again.newest is first.newest and len(kept.captured_queries) == 1  # nothing read again
    newest = MessageCopy.objects.filter(folder=inbox).order_by("-uid").first()
    do_set_flag(newest, flagged=True, user=owner)  # stamped: the folder's highest stamp moves
    flagged = selecting.selection(owner.pk, "INBOX", quiet, (0, 0))
    assert flagged.newest.rows[0].flags == ["\\Flagged"]
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Nouveau", text="Bonjour")  # UIDNEXT moves
    grown = selecting.selection(owner.pk, "INBOX", quiet, (0, 0))
    assert len(grown.newest.rows) == 4 and grown.view.count == 4


def test_an_announcement_drops_the_kept_copies(inbox):
    class Announced(Quiet):
        def unchanged_since(self, mark, folder_id):
            return False

    owner = inbox.mailbox.owner_id
    first = selecting.selection(owner, "INBOX", Quiet(), (0, 0))
    assert selecting.selection(owner, "INBOX", Announced(), (0, 1)).newest is not first.newest


def test_envelopes_are_encoded_once_and_answer_as_before(inbox):
    owner = inbox.mailbox.owner_id
    folder, view, _uidnext, _modseq = _select(owner, "INBOX")
    atts = parse_command(f"a FETCH 1:* {LIST_ITEMS}".encode()).args["atts"]
    before = _fetch(folder, owner, view.all_uids(), atts, False, False)
    assert len(envelopes._entries) == 3  # noqa: SLF001
    assert _fetch(folder, owner, view.all_uids(), atts, False, False) == before


def test_fetch_right_after_select_answers_as_the_database_does(connect, inbox):
    owner = inbox.mailbox.owner
    newest = MessageCopy.objects.filter(folder=inbox).order_by("-uid").first()
    MessageCopy.objects.filter(pk=newest.pk).update(is_answered=True)
    raw = connect.raw()
    raw.command("a", f"LOGIN {owner.email} {app_password(owner)}")
    raw.command("b", "SELECT INBOX")
    server = connect.server
    assert server.sessions and any(s.selected and s.selected.prefetch for s in server.sessions)
    answered = b"".join(raw.command("c", f"FETCH 1:* {LIST_ITEMS}")[:-1])
    folder, view, _uidnext, _modseq = _select(owner.pk, "INBOX")
    atts = parse_command(f"c FETCH 1:* {LIST_ITEMS}".encode()).args["atts"]
    expected = b"".join(
        fetch_response(view.number_of(uid), items)
        for uid, items in _fetch(folder, owner.pk, view.all_uids(), atts, False, False)
    )
    assert answered == expected
    # The session's own change: what SELECT read ahead no longer answers.
    raw.command("d", "STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert b"\\Flagged" in b"".join(raw.command("e", "FETCH 1 (FLAGS)"))
    raw.command("f", "LOGOUT")
