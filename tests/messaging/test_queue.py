"""An organisational BAL as a work queue: assignee, status, internal notes, who read, who answers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.messaging.compose.selectors import REPLYING_WINDOW
from apps.messaging.compose.services import DraftContent, DraftKeying, do_save_draft
from apps.messaging.models import Draft, InternalNote, MessageCopy, QueueStatus
from apps.messaging.store import content
from apps.messaging.webmail.workqueue import do_add_note, do_assign, do_set_queue_status
from tests.messaging.helpers import send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]


@pytest.fixture
def request_copy(alice_bal, cardio_bal, dr_alice) -> MessageCopy:
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Demande de RDV", text="Bonjour")
    return MessageCopy.objects.select_related("mailbox", "message").get(mailbox=cardio_bal, message=message)


def _detail(copy: MessageCopy) -> str:
    return reverse("messaging:message-detail", args=[copy.mailbox_id, copy.pk])


def test_it_assigns_to_a_member_and_starts_the_work(request_copy, sec_bob):
    do_assign(request_copy, sec_bob, acting_user=sec_bob)
    request_copy.refresh_from_db()
    assert request_copy.assignee_id == sec_bob.pk and request_copy.queue_status == QueueStatus.IN_PROGRESS
    event = AuditEvent.objects.get(action="message.assigned")
    assert event.actor_id == sec_bob.pk and event.details["changes"]["assignee"]["new"] == sec_bob.pk


def test_it_refuses_to_assign_to_someone_outside_the_bal(request_copy, sec_bob, charlie):
    with pytest.raises(ValidationError):
        do_assign(request_copy, charlie, acting_user=sec_bob)


def test_it_refuses_queue_actions_in_a_nominative_bal(alice_bal, cardio_bal, dr_alice, sec_bob):
    message = send(cardio_bal, sec_bob, [alice_bal.address], subject="Réponse", text="x")
    copy = MessageCopy.objects.select_related("mailbox").get(mailbox=alice_bal, message=message)
    with pytest.raises(ValidationError):
        do_set_queue_status(copy, QueueStatus.DONE, acting_user=dr_alice)


def test_it_changes_the_status_with_an_audit_trail(request_copy, sec_bob):
    do_set_queue_status(request_copy, QueueStatus.DONE, acting_user=sec_bob)
    assert MessageCopy.objects.get(pk=request_copy.pk).queue_status == QueueStatus.DONE
    with pytest.raises(ValidationError):
        do_set_queue_status(request_copy, "archived", acting_user=sec_bob)
    assert AuditEvent.objects.filter(action="message.queue_status", actor_id=sec_bob.pk).count() == 1


def test_it_keeps_internal_notes_encrypted_and_out_of_the_journal(request_copy, sec_bob):
    note = do_add_note(request_copy, "Patiente rappelée, RDV le 12/06", acting_user=sec_bob)
    assert b"RDV" not in bytes(note.body_enc)
    key = content.data_key_of_copy(request_copy)
    assert content.open_text(
        key, request_copy.message_id, f"note-{request_copy.pk}", note.body_enc
    ).startswith("Patiente")
    event = AuditEvent.objects.get(action="message.note_added")
    assert "RDV" not in str(event.details)
    with pytest.raises(ValidationError):
        do_add_note(request_copy, "   ", acting_user=sec_bob)


def test_it_runs_the_queue_from_the_message_page(bob_client, request_copy, sec_bob, dr_alice):
    url = reverse("messaging:message-assign", args=[request_copy.mailbox_id, request_copy.pk])
    assert bob_client.post(url, {"assignee": "moi"}).status_code == 302
    status_url = reverse("messaging:message-status", args=[request_copy.mailbox_id, request_copy.pk])
    bob_client.post(status_url, {"status": "done"})
    note_url = reverse("messaging:note-add", args=[request_copy.mailbox_id, request_copy.pk])
    bob_client.post(note_url, {"note": "Dossier transmis au Dr Morel"})
    copy = MessageCopy.objects.get(pk=request_copy.pk)
    assert copy.assignee_id == sec_bob.pk and copy.queue_status == QueueStatus.DONE
    page = bob_client.get(_detail(request_copy)).content.decode()
    assert "Dossier transmis au Dr Morel" in page and "Lu par" in page and "Bob Leroy" in page
    assert InternalNote.objects.filter(copy=request_copy).count() == 1


def test_it_refuses_queue_writes_to_a_reader_without_send_rights(client, request_copy, dr_alice):
    # Alice is the responsible professional: she reads the BAL but does not act in it.
    client.force_login(dr_alice)
    url = reverse("messaging:message-assign", args=[request_copy.mailbox_id, request_copy.pk])
    assert client.post(url, {"assignee": "moi"}).status_code == 404
    assert client.get(_detail(request_copy)).status_code == 200


def test_it_filters_the_list_by_status_and_assignee(bob_client, alice_bal, cardio_bal, dr_alice, sec_bob):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Premier", text="x")
    second = send(alice_bal, dr_alice, [cardio_bal.address], subject="Second", text="x")
    do_assign(
        MessageCopy.objects.select_related("mailbox").get(mailbox=cardio_bal, message=second),
        sec_bob,
        acting_user=sec_bob,
    )
    url = reverse("messaging:inbox", args=[cardio_bal.pk])
    subjects = lambda query: [row.subject for row in bob_client.get(url, query).context["page"].rows]  # noqa: E731
    assert subjects({"status": "in_progress"}) == ["Second"]
    assert subjects({"status": "new"}) == ["Premier"]
    assert subjects({"assignee": "moi"}) == ["Second"]
    assert subjects({"assignee": "personne"}) == ["Premier"]
    assert subjects({}) == ["Second", "Premier"]


def test_it_says_who_is_replying(bob_client, request_copy, cardio_bal, pharma_ines, sec_bob):
    from apps.mailboxes.models import MemberRole
    from apps.mailboxes.services_members import do_add_member

    do_add_member(cardio_bal, user=pharma_ines, role=MemberRole.SEND, acting_user=None)
    draft = do_save_draft(
        cardio_bal,
        DraftContent(to=["alice.martin@demo.mssante.fr"], subject="Re: Demande de RDV", body="Bonjour"),
        acting_user=pharma_ines,
        keying=DraftKeying.new(),
        reply_to_copy=request_copy,
    )
    assert "Inès Roux est en train de répondre" in bob_client.get(_detail(request_copy)).content.decode()
    polled = reverse("messaging:message-replying", args=[request_copy.mailbox_id, request_copy.pk])
    assert "Inès Roux est en train de répondre" in bob_client.get(polled).content.decode()
    Draft.objects.filter(pk=draft.pk).update(
        updated_at=timezone.now() - REPLYING_WINDOW - dt.timedelta(minutes=1)
    )
    assert "en train de répondre" not in bob_client.get(_detail(request_copy)).content.decode()


def test_it_shows_who_answered(bob_client, request_copy, alice_bal, cardio_bal, sec_bob):
    from apps.messaging.delivery.submit import Outgoing, do_submit_message

    do_submit_message(
        Outgoing(
            mailbox=cardio_bal,
            to=[alice_bal.address],
            subject="Re: Demande de RDV",
            text="OK",
            reply_to_copy=request_copy,
        ),
        acting_user=sec_bob,
    )
    copy = MessageCopy.objects.get(pk=request_copy.pk)
    assert copy.answered_by_id == sec_bob.pk
    page = bob_client.get(_detail(request_copy)).content.decode()
    assert "Répondu par" in page and page.count("Bob Leroy") >= 2


def test_it_takes_and_closes_a_batch_from_the_list(bob_client, alice_bal, cardio_bal, dr_alice, sec_bob):
    ids = []
    for subject in ("Un", "Deux"):
        message = send(alice_bal, dr_alice, [cardio_bal.address], subject=subject, text="x")
        ids.append(MessageCopy.objects.get(mailbox=cardio_bal, message=message).pk)
    url = reverse("messaging:copies-update", args=[cardio_bal.pk])
    inbox = bob_client.get(reverse("messaging:inbox", args=[cardio_bal.pk])).content.decode()
    assert 'value="take"' in inbox and 'value="done"' in inbox
    bob_client.post(url, {"action": "take", "copies": ids})
    assert set(MessageCopy.objects.filter(pk__in=ids).values_list("assignee_id", "queue_status")) == {
        (sec_bob.pk, QueueStatus.IN_PROGRESS)
    }
    bob_client.post(url, {"action": "done", "copies": ids})
    assert set(MessageCopy.objects.filter(pk__in=ids).values_list("queue_status", flat=True)) == {
        QueueStatus.DONE
    }
    assert AuditEvent.objects.filter(action="message.queue_status", actor_id=sec_bob.pk).count() == 2
