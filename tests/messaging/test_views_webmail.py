"""The webmail's reading side: lists, keyset pages, a message, attachments, access and query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.messaging.models import CopyRead, Delivery, FolderRole, MessageCopy
from apps.messaging.webmail import selectors
from tests.messaging.helpers import PDF, pdf_part, send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]


@pytest.fixture
def letter(alice_bal, cardio_bal, dr_alice) -> MessageCopy:
    """A letter from Alice with a PDF, as the cardiology secretariat received it (read receipt asked)."""
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Adressage de Mme Durand",
        text="Chère consœur,\nje vous adresse Mme Durand pour avis.",
        attachments=[pdf_part("2024-05-02_CR_DURAND.pdf")],
        read_receipt=True,
    )
    return MessageCopy.objects.get(mailbox=cardio_bal, message=message)


def _inbox(mailbox) -> str:
    return reverse("messaging:inbox", args=[mailbox.pk])


def _detail(copy) -> str:
    return reverse("messaging:message-detail", args=[copy.mailbox_id, copy.pk])


def test_it_lists_the_inbox_with_decrypted_subjects(bob_client, letter, cardio_bal):
    response = bob_client.get(_inbox(cardio_bal))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Adressage de Mme Durand" in body
    assert "je vous adresse Mme Durand" in body  # the snippet
    assert "Dr" not in body or "Alice" in body
    assert response.headers["Cache-Control"].startswith("no-store")


def test_it_answers_404_to_people_outside_the_bal(charlie_client, letter, cardio_bal):
    inbox_folder = selectors.get_system_folder(cardio_bal, FolderRole.INBOX)
    urls = [
        _inbox(cardio_bal),
        reverse("messaging:folder", args=[cardio_bal.pk, inbox_folder.pk]),
        reverse("messaging:search", args=[cardio_bal.pk]) + "?q=durand",
        _detail(letter),
        reverse("messaging:attachment-download", args=[cardio_bal.pk, letter.pk, 0]),
        reverse("messaging:attachment-xdm", args=[cardio_bal.pk, letter.pk, 0]),
        reverse("messaging:message-replying", args=[cardio_bal.pk, letter.pk]),
    ]
    for url in urls:
        assert charlie_client.get(url).status_code == 404, url
    posted = charlie_client.post(
        reverse("messaging:copies-update", args=[cardio_bal.pk]), {"action": "trash", "copies": [letter.pk]}
    )
    assert posted.status_code == 404
    assert MessageCopy.objects.get(pk=letter.pk).folder.role == FolderRole.INBOX


def test_it_answers_404_when_the_copy_is_not_in_the_bal_of_the_url(alice_client, letter, alice_bal):
    # Alice is responsible of the secretariat (may read it) but the URL names her own BAL.
    url = reverse("messaging:message-detail", args=[alice_bal.pk, letter.pk])
    assert alice_client.get(url).status_code == 404


def test_it_pages_with_a_keyset_cursor(bob_client, alice_bal, cardio_bal, dr_alice, monkeypatch):
    for number in range(5):
        send(alice_bal, dr_alice, [cardio_bal.address], subject=f"Message numéro {number}", text="x")
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    first = bob_client.get(_inbox(cardio_bal))
    page = first.context["page"]
    assert [row.subject for row in page.rows] == ["Message numéro 4", "Message numéro 3"]
    assert page.next_cursor
    second = bob_client.get(_inbox(cardio_bal) + f"?after={page.next_cursor}", headers={"HX-Request": "true"})
    assert [t.name for t in second.templates][0] == "messaging/_message_rows.html"
    assert [row.subject for row in second.context["page"].rows] == ["Message numéro 2", "Message numéro 1"]
    third = bob_client.get(_inbox(cardio_bal) + f"?after={second.context['page'].next_cursor}")
    assert [row.subject for row in third.context["page"].rows] == ["Message numéro 0"]
    assert third.context["page"].next_cursor is None


def test_it_ignores_a_malformed_cursor(bob_client, letter, cardio_bal):
    response = bob_client.get(_inbox(cardio_bal) + "?after=nonsense.1")
    assert response.status_code == 200
    assert "Adressage de Mme Durand" in response.content.decode()


def test_it_lists_a_folder_in_a_constant_number_of_queries(
    bob_client, alice_bal, cardio_bal, dr_alice, django_assert_max_num_queries
):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Premier", text="x")
    bob_client.get(_inbox(cardio_bal))  # warms the session's current BAL and the folder rows
    with django_assert_max_num_queries(16) as few:
        bob_client.get(_inbox(cardio_bal))
    for number in range(8):
        send(
            alice_bal,
            dr_alice,
            [cardio_bal.address],
            subject=f"Suivant {number}",
            text="x",
            attachments=[pdf_part()],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = bob_client.get(_inbox(cardio_bal))
    assert len(response.context["page"].rows) == 9


def test_it_shows_unread_counts_per_folder(bob_client, letter, cardio_bal):
    entries = {
        entry.folder.role: entry.unread for entry in bob_client.get(_inbox(cardio_bal)).context["folders"]
    }
    assert entries[FolderRole.INBOX] == 1 and entries[FolderRole.TRASH] == 0


def test_it_marks_read_on_opening_and_records_who_read(bob_client, letter, sec_bob):
    response = bob_client.get(_detail(letter))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Adressage de Mme Durand" in body and "je vous adresse" in body
    assert "2024-05-02_CR_DURAND.pdf" in body
    letter.refresh_from_db()
    assert letter.is_read
    assert CopyRead.objects.filter(copy=letter, user=sec_bob).exists()
    assert Delivery.objects.get(pk=letter.delivery_id).read_at is not None  # the sender sees « lu »
    assert response.headers["Cache-Control"].startswith("no-store")


def test_it_streams_an_attachment_with_safe_headers(bob_client, letter):
    url = reverse("messaging:attachment-download", args=[letter.mailbox_id, letter.pk, 0])
    response = bob_client.get(url)
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == PDF
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["Cache-Control"].startswith("no-store")


def test_it_previews_a_pdf_inline_in_a_sandbox(bob_client, letter):
    url = reverse("messaging:attachment-download", args=[letter.mailbox_id, letter.pk, 0]) + "?apercu=1"
    response = bob_client.get(url)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    page = bob_client.get(_detail(letter)).content.decode()
    assert "<iframe sandbox " in page


def test_it_answers_404_for_a_missing_attachment(bob_client, letter):
    url = reverse("messaging:attachment-download", args=[letter.mailbox_id, letter.pk, 7])
    assert bob_client.get(url).status_code == 404


def test_it_searches_subject_body_and_attachment_names(bob_client, letter, cardio_bal):
    url = reverse("messaging:search", args=[cardio_bal.pk])
    for query in ("durand", "adressage", "consœur", "avis", "CR_DUR"):
        rows = bob_client.get(url, {"q": query}).context["rows"]
        assert [row.copy.pk for row in rows] == [letter.pk], query
    assert bob_client.get(url, {"q": "cardiogramme"}).context["rows"] == []
    sent = selectors.get_system_folder(letter.mailbox, FolderRole.SENT)
    assert bob_client.get(url, {"q": "durand", "dossier": sent.pk}).context["rows"] == []
    assert bob_client.get(url, {"q": "a"}).context["rows"] is None


def test_it_groups_a_thread_in_the_conversation_view(
    bob_client, alice_client, letter, alice_bal, cardio_bal, sec_bob, dr_alice
):
    from apps.messaging.delivery.deliver import do_deliver
    from apps.messaging.delivery.submit import Outgoing, do_submit_message

    reply = do_submit_message(
        Outgoing(
            mailbox=cardio_bal,
            to=[alice_bal.address],
            subject="Re: Adressage",
            text="Reçu, merci.",
            reply_to_copy=letter,
        ),
        acting_user=sec_bob,
    )
    for delivery in Delivery.objects.filter(message=reply):
        do_deliver(delivery.pk)
    sent_copy = MessageCopy.objects.get(mailbox=cardio_bal, message=reply)
    assert sent_copy.thread_root == letter.pk
    rows = bob_client.get(_inbox(cardio_bal)).context["page"].rows
    assert rows[0].thread_size == 2
    thread = bob_client.get(_detail(sent_copy)).context["view"].thread
    assert [item.copy.pk for item in thread] == [letter.pk, sent_copy.pk]
    # Alice's side: her sent letter and the answer form one conversation too.
    assert "/suivi/" in bob_client.get(_detail(sent_copy)).content.decode()  # the sender's timeline
    answer = MessageCopy.objects.get(mailbox=alice_bal, message=reply)
    alice_thread = alice_client.get(_detail(answer)).context["view"].thread
    assert len(alice_thread) == 2


def test_it_lists_the_persons_own_drafts_in_brouillons(
    bob_client, alice_client, cardio_bal, sec_bob, dr_alice
):
    from apps.messaging.compose.services import DraftContent, DraftKeying, do_save_draft

    do_save_draft(
        cardio_bal,
        DraftContent(to=["alice.martin@demo.mssante.fr"], subject="Réponse en cours", body="..."),
        acting_user=sec_bob,
        keying=DraftKeying.new(),
    )
    drafts = selectors.get_system_folder(cardio_bal, FolderRole.DRAFTS)
    url = reverse("messaging:folder", args=[cardio_bal.pk, drafts.pk])
    page = bob_client.get(url).content.decode()
    assert "Réponse en cours" in page and "?draft=" in page
    # Alice (responsible, reader of the BAL) does not see Bob's draft: drafts are personal.
    assert "Réponse en cours" not in alice_client.get(url).content.decode()


def test_it_searches_and_opens_in_a_bounded_number_of_queries(
    bob_client, alice_bal, cardio_bal, dr_alice, django_assert_max_num_queries
):
    for number in range(6):
        send(alice_bal, dr_alice, [cardio_bal.address], subject=f"Bilan lipidique {number}", text="x")
    url = reverse("messaging:search", args=[cardio_bal.pk])
    bob_client.get(url, {"q": "bilan"})
    with django_assert_max_num_queries(17):  # window, then index (few hits), then the rows
        rows = bob_client.get(url, {"q": "bilan lipidique"}).context["rows"]
    assert len(rows) == 6
    copy = rows[0].copy
    bob_client.get(_detail(copy))  # first opening writes the read marks
    with django_assert_max_num_queries(23):  # the whole page: the message with its folder's list beside it
        assert bob_client.get(_detail(copy)).status_code == 200
    with django_assert_max_num_queries(22):  # the reading pane alone (htmx): no list
        pane = bob_client.get(_detail(copy), headers={"HX-Request": "true", "HX-Target": "wm-reader"})
    assert pane.status_code == 200 and b"<html" not in pane.content


def test_it_links_a_message_to_its_neighbours_and_moves_on_after_trashing(
    bob_client, alice_bal, cardio_bal, dr_alice
):
    copies = []
    for subject in ("Un", "Deux", "Trois"):
        message = send(alice_bal, dr_alice, [cardio_bal.address], subject=subject, text="x")
        copies.append(MessageCopy.objects.get(mailbox=cardio_bal, message=message))
    oldest, middle, newest = copies
    context = bob_client.get(_detail(middle)).context
    assert context["newer_url"] == _detail(newest) and context["older_url"] == _detail(oldest)
    assert bob_client.get(_detail(oldest)).context["older_url"] == ""
    page = bob_client.get(_detail(middle)).content.decode()
    response = bob_client.post(
        reverse("messaging:copies-update", args=[cardio_bal.pk]),
        {"action": "trash", "copies": [middle.pk], "next": _detail(oldest)},
    )
    assert f'name="next" value="{_detail(oldest)}"' in page
    assert response.status_code == 302 and response.url == _detail(oldest)
