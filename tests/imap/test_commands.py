"""The command matrix with real clients (imapclient, imaplib) against a live server: folders and namespaces,
SELECT, FETCH, SEARCH through the blind index, STORE, MOVE/COPY with UIDPLUS, EXPUNGE, quota, APPEND to Sent
deduplicated, access refused as NONEXISTENT, flags per person in an organisational BAL, the work queue as
keywords, consultation journaled. Every response is also checked with imapclient's parser (conftest)."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from apps.audit.models import AuditEvent
from apps.mailboxes.models import MemberRole
from apps.mailboxes.services_members import do_add_member
from apps.messaging.models import CopyRead, Folder, FolderRole, Message, MessageCopy, QueueStatus
from apps.messaging.webmail.workqueue import do_set_queue_status
from tests.imap.conftest import app_password
from tests.messaging.helpers import send

SUMMER = "Comptes rendus – été"


def _client(connect, user) -> IMAPClient:
    client = IMAPClient("localhost", port=connect.server.imaps_port, ssl_context=connect.pki.client_context())
    client.login(user.email, app_password(user))
    return client


@pytest.fixture
def alice_mail(dr_alice, alice_bal, sec_bob, cardio_bal):
    for index, word in enumerate(["échographie", "scanner", "ordonnance"]):
        send(
            cardio_bal,
            sec_bob,
            [alice_bal.address],
            subject=f"Résultat {word}",
            text=f"Bonjour, {word} {index}",
        )
    return alice_bal


def test_folders_namespace_and_special_use(connect, dr_alice, alice_mail, cardio_bal):
    client = _client(connect, dr_alice)
    assert client.namespace().personal == (("", "/"),)
    assert client.namespace().shared == (("Partagés/", "/"),)
    listed = {name: flags for flags, _sep, name in client.list_folders()}
    assert listed["Envoyés"] == (b"\\HasNoChildren", b"\\Sent")
    assert b"\\Noselect" in listed["Partagés"]
    assert f"Partagés/{cardio_bal.address}" in listed
    assert {"INBOX", "Brouillons", "Corbeille", "Archives"} <= set(listed)
    client.create_folder(SUMMER)
    assert SUMMER in {name for _f, _s, name in client.list_folders()}
    client.rename_folder(SUMMER, SUMMER + " 2026")
    assert SUMMER + " 2026" in {name for _f, _s, name in client.list_folders()}
    assert Folder.objects.filter(mailbox=alice_mail, name=SUMMER + " 2026").exists()
    with pytest.raises(IMAPClientError, match="CANNOT"):
        client.delete_folder("Envoyés")
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        client.select_folder("Partagés/quelqu.un@demo.mssante.fr")
    client.logout()


def test_select_fetch_search_store_and_consultation_journal(connect, dr_alice, alice_mail):
    client = _client(connect, dr_alice)
    selected = client.select_folder("INBOX")
    inbox = Folder.objects.get(mailbox=alice_mail, role=FolderRole.INBOX)
    assert selected[b"EXISTS"] == 3 and selected[b"UIDVALIDITY"] == inbox.pk and selected[b"UIDNEXT"] == 4
    envelopes = client.fetch([1, 2, 3], ["ENVELOPE", "FLAGS", "RFC822.SIZE", "INTERNALDATE"])
    subjects = sorted(data[b"ENVELOPE"].subject.decode() for data in envelopes.values())
    assert any("scanner" in s or "=?" in s for s in subjects) and set(envelopes) == {1, 2, 3}
    assert all(data[b"FLAGS"] == () for data in envelopes.values())
    assert not AuditEvent.objects.filter(action="imap.message_consulted").exists()
    peek = client.fetch([2], ["BODY.PEEK[]"])[2][b"BODY[]"]
    assert b"scanner" in peek and client.get_flags([2])[2] == ()
    client.fetch([1, 2], ["BODY[TEXT]", "BODY[HEADER.FIELDS (SUBJECT)]", "BODYSTRUCTURE"])
    assert set(client.get_flags([1, 2]).values()) == {(b"\\Seen",)}
    consulted = AuditEvent.objects.filter(action="imap.message_consulted").order_by("id")
    assert consulted.count() == 2 and consulted.last().details["uids"] == "1:2"
    assert consulted.last().actor_id == dr_alice.pk and consulted.last().details["channel"] == "imap"
    assert client.search(["TEXT", "scanner"]) == [2]
    assert client.search(["TEXT", "scan"]) == [2]  # prefix matching of the blind index
    assert client.search(["UNSEEN"]) == [3]
    assert client.search(["NOT", "UID", "1:2"]) == [3]
    message_id = Message.objects.filter(subject_enc__isnull=False).order_by("created_at").first().message_id
    assert len(client.search(["HEADER", "Message-ID", message_id])) == 1
    client.add_flags([3], [b"\\Flagged"])
    assert MessageCopy.objects.get(folder=inbox, uid=3).is_flagged
    assert client.search(["FLAGGED", "LARGER", 10]) == [3]
    client.logout()


def test_move_copy_expunge_and_uidplus(connect, dr_alice, alice_mail):
    client = _client(connect, dr_alice)
    client.create_folder(SUMMER)
    client.select_folder("INBOX")
    client.move([1], SUMMER)
    target = Folder.objects.get(mailbox=alice_mail, name=SUMMER)
    assert MessageCopy.objects.get(folder=target).uid == 1
    assert client.search(["ALL"]) == [2, 3]  # imapclient speaks UIDs
    client.copy([2], "Archives")
    archives = Folder.objects.get(mailbox=alice_mail, role=FolderRole.ARCHIVE)
    assert MessageCopy.objects.filter(folder=archives).count() == 1
    client.add_flags([3], [b"\\Deleted"])
    assert client.expunge() is not None
    assert client.search(["ALL"]) == [2]
    trash = Folder.objects.get(mailbox=alice_mail, role=FolderRole.TRASH)
    assert MessageCopy.objects.filter(folder=trash, imap_deleted=False).count() == 1  # nothing lost
    root = client.get_quota_root("INBOX")
    assert root[0].quota_roots == [alice_mail.address] and root[1][0].resource == "STORAGE"
    client.logout()


def test_append_to_sent_is_deduplicated_and_never_sends(connect, dr_alice, alice_bal, cardio_bal, sec_bob):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Avis", text="Bonjour")
    sent = Folder.objects.get(mailbox=alice_bal, role=FolderRole.SENT)
    uid = MessageCopy.objects.get(folder=sent).uid
    client = _client(connect, dr_alice)
    raw = f"Message-ID: {message.message_id}\r\nSubject: Avis\r\n\r\nBonjour\r\n".encode()
    answer = client.append("Envoyés", raw)
    assert f"APPENDUID {sent.pk} {uid}".encode() in answer
    with pytest.raises(IMAPClientError, match="CANNOT"):
        client.append("Envoyés", b"Message-ID: <nouveau@poste>\r\nSubject: x\r\n\r\nx\r\n")
    assert MessageCopy.objects.filter(folder=sent).count() == 1 and Message.objects.count() == 1
    draft = (
        b"From: alice.martin@demo.mssante.fr\r\nTo: x@demo.mssante.fr\r\n"
        + b"Subject: Brouillon\r\n\r\nA finir\r\n"
    )
    answer = client.append("Brouillons", draft, flags=[b"\\Seen"])
    drafts = Folder.objects.get(mailbox=alice_bal, role=FolderRole.DRAFTS)
    stored = MessageCopy.objects.get(folder=drafts)
    assert f"APPENDUID {drafts.pk} {stored.uid}".encode() in answer and stored.is_read
    assert not stored.message.deliveries.exists() and stored.message.transit_key_wrap is None  # never sent
    client.select_folder("Brouillons")
    assert client.fetch([stored.uid], ["BODY.PEEK[]"])[stored.uid][b"BODY[]"] == draft
    assert b"\\Draft" in client.get_flags([stored.uid])[stored.uid]
    assert AuditEvent.objects.filter(action="imap.draft_appended", actor_id=dr_alice.pk).exists()
    client.logout()


def test_organisational_bal_seen_per_person_and_work_queue_keywords(
    connect, cardio_bal, sec_bob, charlie, dr_alice, alice_bal
):
    do_add_member(cardio_bal, user=charlie, role=MemberRole.SEND, acting_user=None)
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Demande", text="Pouvez-vous voir M. X ?")
    name = f"Partagés/{cardio_bal.address}"
    bob, charlie_client = _client(connect, sec_bob), _client(connect, charlie)
    bob.select_folder(name)
    charlie_client.select_folder(name)
    bob.add_flags([1], [b"\\Seen"])
    copy = MessageCopy.objects.get(mailbox=cardio_bal, folder__role=FolderRole.INBOX)
    assert CopyRead.objects.filter(copy=copy, user=sec_bob).exists()
    assert b"\\Seen" not in charlie_client.get_flags([1])[1]
    assert b"$Nouveau" in charlie_client.get_flags([1])[1]
    do_set_queue_status(copy, QueueStatus.IN_PROGRESS, acting_user=sec_bob)  # the webmail's action
    assert b"$EnCours" in charlie_client.get_flags([1])[1]
    charlie_client.add_flags([1], [b"$Traite"])
    copy.refresh_from_db()
    assert copy.queue_status == QueueStatus.DONE
    bob.logout()
    charlie_client.logout()


def test_another_persons_bal_does_not_exist(connect, charlie, alice_mail):
    client = _client(connect, charlie)
    for name in ("INBOX", f"Partagés/{alice_mail.address}"):
        with pytest.raises(IMAPClientError, match="NONEXISTENT"):
            client.select_folder(name)
    client.logout()


def test_a_bal_with_imap_turned_off_does_not_exist_over_imap(
    connect, cardio_bal, sec_bob, dr_alice, alice_bal
):
    from apps.mailboxes.services import do_update_mailbox

    client = _client(connect, dr_alice)  # her own BAL stays open: her session goes on
    name = f"Partagés/{cardio_bal.address}"
    assert client.select_folder(name, readonly=True)[b"EXISTS"] == 0
    client.unselect_folder()  # a session with it selected would be ended (tests/imap/test_imap_off.py)
    do_update_mailbox(cardio_bal, acting_user=dr_alice, imap_allowed=False)  # its responsible turns it off
    assert name not in {n for _f, _s, n in client.list_folders()}
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        client.select_folder(name)
    assert AuditEvent.objects.filter(actor_id=dr_alice.pk, details__changes__imap_allowed__new=False).exists()
    client.logout()
    with pytest.raises(IMAPClientError, match="AUTHORIZATIONFAILED"):
        _client(connect, sec_bob)  # the BAL was Bob's only one: no IMAP session for him


def test_subfolders_with_the_hierarchy_delimiter_and_accents(
    connect, dr_alice, alice_mail, cardio_bal, sec_bob
):
    """CREATE « Dossier/Sous-dossier » (parents made as needed), RENAME of a parent carries its subfolders,
    DELETE of a parent waits for its subfolders; names round-trip in modified UTF-7; the webmail shows the
    same folders under the same names."""
    client = _client(connect, dr_alice)
    child = f"Patients/{SUMMER}"
    client.create_folder(child)  # « Patients » does not exist yet: created with it
    listed = {name: flags for flags, _sep, name in client.list_folders()}
    assert b"\\HasChildren" in listed["Patients"] and b"\\HasNoChildren" in listed[child]
    assert set(Folder.objects.filter(mailbox=alice_mail, role="custom").values_list("name", flat=True)) == {
        "Patients",
        child,
    }
    assert [n for _f, _s, n in client.list_folders("Patients/", "%")] == [child]
    client.select_folder("INBOX")
    client.move([1], child)
    with pytest.raises(IMAPClientError, match="CANNOT"):
        client.delete_folder("Patients")  # its subfolder would go with it unseen: refused
    client.rename_folder("Patients", "Suivi des patients")
    names = {n for _f, _s, n in client.list_folders()}
    assert f"Suivi des patients/{SUMMER}" in names and "Patients" not in names and child not in names
    moved = client.select_folder(f"Suivi des patients/{SUMMER}")
    assert moved[b"EXISTS"] == 1  # the message followed its folder
    client.unselect_folder()
    with pytest.raises(IMAPClientError, match="CANNOT"):
        client.create_folder("INBOX/Sous-dossier")
    with pytest.raises(IMAPClientError, match="CANNOT"):
        client.create_folder("Corbeille/Sous-dossier")  # the messagerie's folders take no subfolders
    with pytest.raises(IMAPClientError, match="ALREADYEXISTS"):
        client.create_folder(f"Suivi des patients/{SUMMER}")
    # In a shared BAL too (Bob may write there), with the BAL's own path.
    bob = _client(connect, sec_bob)
    bob.create_folder(f"Partagés/{cardio_bal.address}/Dossiers/Cardiologie")
    bob.logout()
    assert Folder.objects.filter(mailbox=cardio_bal, name="Dossiers/Cardiologie").exists()
    client.delete_folder(f"Suivi des patients/{SUMMER}")
    client.delete_folder("Suivi des patients")
    assert not Folder.objects.filter(mailbox=alice_mail, role="custom").exists()
    client.logout()


def test_the_webmail_folder_rules_for_subfolders(dr_alice, alice_bal):
    from django.core.exceptions import ValidationError

    from apps.messaging.webmail.services import do_create_folder, do_rename_folder

    folder = do_create_folder(alice_bal, " Comptes  rendus / été ", user=dr_alice)
    assert folder.name == "Comptes rendus/été"
    for bad in ("/Racine", "Fin/", "A//B", "1/2/3/4/5/6"):
        with pytest.raises(ValidationError):
            do_create_folder(alice_bal, bad, user=dr_alice)
    parent = Folder.objects.get(mailbox=alice_bal, name="Comptes rendus")
    with pytest.raises(ValidationError, match="propres sous-dossiers"):
        do_rename_folder(parent, "Comptes rendus/été/Archives", user=dr_alice)
