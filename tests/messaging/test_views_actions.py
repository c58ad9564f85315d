"""Flags, filing, Corbeille and user folders from the webmail, each through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.messaging.models import Folder, FolderRole, MessageCopy
from apps.messaging.webmail.selectors import get_system_folder
from tests.messaging.helpers import send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]


@pytest.fixture
def two(alice_bal, cardio_bal, dr_alice) -> list[MessageCopy]:
    copies = []
    for subject in ("Premier courrier", "Second courrier"):
        message = send(alice_bal, dr_alice, [cardio_bal.address], subject=subject, text="x")
        copies.append(MessageCopy.objects.get(mailbox=cardio_bal, message=message))
    return copies


def _update(client, mailbox, action, copies, **extra):
    data = {"action": action, "copies": [c.pk for c in copies], **extra}
    return client.post(reverse("messaging:copies-update", args=[mailbox.pk]), data)


def _folder_role(copy: MessageCopy) -> str:
    return MessageCopy.objects.select_related("folder").get(pk=copy.pk).folder.role


def test_it_flags_and_marks_read_in_batch(bob_client, two, cardio_bal):
    assert _update(bob_client, cardio_bal, "flag", two).status_code == 302
    assert _update(bob_client, cardio_bal, "read", two).status_code == 302
    assert all(c.is_flagged and c.is_read for c in MessageCopy.objects.filter(pk__in=[c.pk for c in two]))
    _update(bob_client, cardio_bal, "unread", two[:1])
    assert not MessageCopy.objects.get(pk=two[0].pk).is_read


def test_it_trashes_restores_and_empties_the_corbeille(bob_client, two, cardio_bal):
    _update(bob_client, cardio_bal, "trash", two)
    assert {_folder_role(c) for c in two} == {FolderRole.TRASH}
    _update(bob_client, cardio_bal, "restore", two[:1])
    assert _folder_role(two[0]) == FolderRole.INBOX
    response = bob_client.post(reverse("messaging:trash-empty", args=[cardio_bal.pk]))
    assert response.status_code == 302
    assert not MessageCopy.objects.filter(pk=two[1].pk).exists()
    assert MessageCopy.objects.filter(pk=two[0].pk).exists()
    assert AuditEvent.objects.filter(action="message.trash_emptied").exists()


def test_it_archives_and_moves_to_a_user_folder(bob_client, two, cardio_bal):
    _update(bob_client, cardio_bal, "archive", two[:1])
    assert _folder_role(two[0]) == FolderRole.ARCHIVE
    bob_client.post(
        reverse("messaging:folder-create", args=[cardio_bal.pk]), {"name": "  Cardio   pédiatrique "}
    )
    folder = Folder.objects.get(mailbox=cardio_bal, role=FolderRole.CUSTOM)
    assert folder.name == "Cardio pédiatrique"
    _update(bob_client, cardio_bal, "move", two, folder=str(folder.pk))
    assert {MessageCopy.objects.get(pk=c.pk).folder_id for c in two} == {folder.pk}
    page = bob_client.get(reverse("messaging:folder", args=[cardio_bal.pk, folder.pk]))
    assert [row.subject for row in page.context["page"].rows] == ["Second courrier", "Premier courrier"]


def test_it_renames_and_deletes_a_user_folder_keeping_its_messages(bob_client, two, cardio_bal):
    bob_client.post(reverse("messaging:folder-create", args=[cardio_bal.pk]), {"name": "À traiter"})
    folder = Folder.objects.get(mailbox=cardio_bal, role=FolderRole.CUSTOM)
    _update(bob_client, cardio_bal, "move", two[:1], folder=str(folder.pk))
    bob_client.post(reverse("messaging:folder-rename", args=[cardio_bal.pk, folder.pk]), {"name": "Urgent"})
    assert Folder.objects.get(pk=folder.pk).name == "Urgent"
    bob_client.post(reverse("messaging:folder-delete", args=[cardio_bal.pk, folder.pk]))
    assert not Folder.objects.filter(pk=folder.pk).exists()
    assert _folder_role(two[0]) == FolderRole.TRASH


def test_it_refuses_to_rename_a_system_folder_with_a_french_message(bob_client, cardio_bal, two):
    inbox = get_system_folder(cardio_bal, FolderRole.INBOX)
    url = reverse("messaging:folder-rename", args=[cardio_bal.pk, inbox.pk])
    response = bob_client.post(url, {"name": "Autre"}, follow=True)
    assert "ne peuvent pas être renommés" in response.content.decode()
    assert Folder.objects.get(pk=inbox.pk).name == "Réception"


def test_it_ignores_copies_of_another_bal_in_a_batch(bob_client, two, alice_bal, cardio_bal):
    own = MessageCopy.objects.get(mailbox=alice_bal, message=two[0].message_id)  # Alice's sent copy
    _update(bob_client, cardio_bal, "trash", [own])
    assert _folder_role(own) == FolderRole.SENT


def test_it_refuses_writes_to_a_reader_and_get_requests(client, dr_alice, two, cardio_bal):
    client.force_login(dr_alice)  # responsible professional: reads, does not act
    assert _update(client, cardio_bal, "trash", two).status_code == 404
    assert _folder_role(two[0]) == FolderRole.INBOX
    assert client.get(reverse("messaging:copies-update", args=[cardio_bal.pk])).status_code == 405


def test_it_rejects_an_unknown_destination_with_a_message(bob_client, two, cardio_bal):
    response = _update(bob_client, cardio_bal, "move", two, folder="999999")
    assert response.status_code == 302
    assert _folder_role(two[0]) == FolderRole.INBOX


def test_the_sidebar_shows_subfolders_as_a_tree_under_their_parent(bob_client, cardio_bal, two):
    from apps.messaging.webmail.selectors import list_folders

    for name in ("Comptes rendus", "Comptes/2026", "Comptes", "Comptes/2025/Janvier", "archives patients"):
        bob_client.post(reverse("messaging:folder-create", args=[cardio_bal.pk]), {"name": name})
    custom = [entry for entry in list_folders(cardio_bal) if entry.folder.role == FolderRole.CUSTOM]
    assert [(entry.folder.name, entry.depth, entry.label) for entry in custom] == [
        ("archives patients", 0, "archives patients"),
        ("Comptes", 0, "Comptes"),
        ("Comptes/2025", 1, "2025"),
        ("Comptes/2025/Janvier", 2, "Janvier"),
        ("Comptes/2026", 1, "2026"),
        ("Comptes rendus", 0, "Comptes rendus"),
    ]
    page = bob_client.get(reverse("messaging:inbox", args=[cardio_bal.pk])).content.decode()
    # Indented under its parent, the whole path read aloud and shown on hover.
    assert '<li class="wm-depth-2">' in page
    assert (
        '<span class="visually-hidden">Comptes/2025/Janvier</span><span aria-hidden="true">Janvier</span>'
        in page
    )
    assert page.index(">Comptes/2026<") < page.index(">Comptes rendus<")
