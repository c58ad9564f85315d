"""IMAP UIDs on copies: allocated per batch in the deposit transaction, strictly increasing per folder, a
new UID on a move (the trigger), existing copies numbered by the migration's batches."""

from __future__ import annotations

from apps.messaging.models import Folder, FolderRole, MessageCopy
from apps.messaging.store import uids
from apps.messaging.webmail.services import do_create_folder, do_move_copies
from tests.messaging.helpers import send


def _inbox_uids(mailbox) -> list[int]:
    return list(
        MessageCopy.objects.filter(mailbox=mailbox, folder__role=FolderRole.INBOX)
        .order_by("id")
        .values_list("uid", flat=True)
    )


def test_deposits_number_copies_in_order_and_moves_renumber(dr_alice, alice_bal, sec_bob, cardio_bal):
    for index in range(3):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Compte rendu {index}", text="Bonjour")
    numbers = _inbox_uids(alice_bal)
    assert numbers == sorted(numbers) and len(set(numbers)) == 3 and None not in numbers
    inbox = Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX)
    assert inbox.uidnext == numbers[-1] + 1
    sent = MessageCopy.objects.filter(mailbox=cardio_bal, folder__role=FolderRole.SENT)
    assert sorted(sent.values_list("uid", flat=True)) == [1, 2, 3]  # the trigger numbers other paths too
    folder = do_create_folder(alice_bal, "Comptes rendus – été", user=dr_alice)
    copy = MessageCopy.objects.filter(mailbox=alice_bal).order_by("id").first()
    do_move_copies([copy], folder=folder, user=dr_alice)
    copy.refresh_from_db()
    assert copy.folder == folder and copy.uid == 1
    do_move_copies([copy], folder=inbox, user=dr_alice)
    copy.refresh_from_db()
    assert copy.uid == numbers[-1] + 1  # back in the inbox: a new, larger UID


def test_existing_copies_are_numbered_in_batches(alice_bal, sec_bob, cardio_bal):
    for index in range(5):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=f"Ancien {index}", text="x")
    MessageCopy.objects.filter(mailbox=alice_bal).update(uid=None)
    Folder.objects.filter(mailbox=alice_bal).update(uidnext=1)
    assert uids.number_existing(batch=2) == 5
    assert _inbox_uids(alice_bal) == [1, 2, 3, 4, 5]
    assert Folder.objects.get(mailbox=alice_bal, role=FolderRole.INBOX).uidnext == 6
