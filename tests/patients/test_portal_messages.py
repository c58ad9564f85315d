"""The patient portal's messages: Alice writes to Paul with a PDF, Paul reads it under her name, saves the
PDF to his documents and replies; Alice closes with [FIN]; Paul can no longer reply, even by a forged POST."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import FolderRole, Message, MessageCopy
from apps.patients.models import PatientDocument
from tests.messaging.helpers import PDF, pdf_part, send, subject_of
from tests.patients.conftest import PAUL_ADDRESS


def _inbox_copy(mailbox, message) -> MessageCopy:
    return MessageCopy.objects.get(mailbox=mailbox, message=message, folder__role=FolderRole.INBOX)


@pytest.fixture
def letter(alice_bal, dr_alice, paul_profile) -> Message:
    return send(
        alice_bal,
        dr_alice,
        [PAUL_ADDRESS],
        subject="Vos résultats",
        text="Bonjour, voici vos résultats.",
        attachments=[pdf_part("resultats.pdf")],
    )


def test_it_lists_the_thread_under_the_professionals_name_never_the_address(paul_client, letter):
    page = paul_client.get(reverse("patients:inbox"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Alice Martin" in body and "Vos résultats" in body
    assert "alice.martin@" not in body


def test_it_shows_the_thread_with_its_attachment_and_marks_it_read(paul_client, paul_profile, letter):
    copy = _inbox_copy(paul_profile.mailbox, letter)
    page = paul_client.get(reverse("patients:thread", args=[copy.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert (
        "voici vos résultats" in body and "resultats.pdf" in body and "Enregistrer dans mes documents" in body
    )
    assert "Répondre à Alice Martin" in body and "alice.martin@" not in body
    copy.refresh_from_db()
    assert copy.is_read


def test_it_downloads_an_attachment(paul_client, paul_profile, letter):
    copy = _inbox_copy(paul_profile.mailbox, letter)
    response = paul_client.get(reverse("patients:attachment", args=[copy.pk, 0]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert "attachment" in response["Content-Disposition"] and response["X-Content-Type-Options"] == "nosniff"


def test_it_saves_an_attachment_to_the_documents_once(paul_client, paul_profile, letter):
    copy = _inbox_copy(paul_profile.mailbox, letter)
    url = reverse("patients:attachment-save", args=[copy.pk, 0])
    assert paul_client.post(url, {"category": "results"}).status_code == 302
    assert paul_client.post(url, {"category": "results"}).status_code == 302
    document = PatientDocument.objects.get(profile=paul_profile)
    thread = paul_client.get(reverse("patients:thread", args=[copy.pk])).content.decode()
    assert "Enregistré dans" in thread and "Enregistrer dans mes documents" not in thread
    assert document.category == "results" and document.sender_name == "Alice Martin"
    assert bytes(document.filename_enc).find(b"resultats") == -1  # the name is sealed
    listing = paul_client.get(reverse("patients:documents")).content.decode()
    assert "resultats.pdf" in listing and "Alice Martin" in listing
    download = paul_client.get(reverse("patients:document-download", args=[document.pk]))
    assert b"".join(download.streaming_content) == PDF


def test_it_sends_a_reply_to_the_professional(paul_client, paul_profile, letter, alice_bal):
    copy = _inbox_copy(paul_profile.mailbox, letter)
    response = paul_client.post(reverse("patients:reply", args=[copy.pk]), {"text": "Merci docteur."})
    assert response.status_code == 302
    reply = Message.objects.get(from_mailbox=paul_profile.mailbox)
    assert reply.to_addresses == [alice_bal.address] and reply.in_reply_to == letter.message_id
    assert (
        subject_of(MessageCopy.objects.get(mailbox=paul_profile.mailbox, message=reply))
        == "Re: Vos résultats"
    )


def test_it_closes_the_thread_after_fin_and_refuses_a_forged_reply(
    paul_client, paul_profile, letter, alice_bal, dr_alice
):
    alice_copy = MessageCopy.objects.get(mailbox=alice_bal, message=letter)
    send(
        alice_bal,
        dr_alice,
        [PAUL_ADDRESS],
        subject="Re: Vos résultats [FIN]",
        text="Bonne journée.",
        reply_to_copy=alice_copy,
    )
    copy = _inbox_copy(paul_profile.mailbox, letter)
    page = paul_client.get(reverse("patients:thread", args=[copy.pk])).content.decode()
    assert "Échange clôturé par le professionnel" in page and "Envoyer ma réponse" not in page

    forged = paul_client.post(reverse("patients:reply", args=[copy.pk]), {"text": "Encore une question"})
    assert forged.status_code == 400 and "Échange clôturé par le professionnel" in forged.content.decode()
    assert not Message.objects.filter(from_mailbox=paul_profile.mailbox).exists()


def test_it_shows_a_closed_badge_in_the_inbox(paul_client, paul_profile, letter, alice_bal, dr_alice):
    alice_copy = MessageCopy.objects.get(mailbox=alice_bal, message=letter)
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Re: [FIN]", text=".", reply_to_copy=alice_copy)
    page = paul_client.get(reverse("patients:inbox")).content.decode()
    assert "Échange clos" in page
    assert "[FIN]" not in page and "Re:" not in page  # the portal speaks words, not mail markers


def test_it_refuses_the_patients_direct_request_to_a_professional(paul_profile, alice_bal):
    with pytest.raises(SubmissionRefused) as refused:
        send(paul_profile.mailbox, paul_profile.user, [alice_bal.address], subject="Question", text="Bonjour")
    assert "seul un professionnel peut commencer" in " ".join(refused.value.refusals.values())


def test_it_lets_an_open_profile_read_but_not_reply(paul_client, paul_profile, alice_bal, dr_alice):
    letter = send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Bienvenue", text="Bonjour")
    type(paul_profile).objects.filter(pk=paul_profile.pk).update(state="open", activated_at=None)
    copy = _inbox_copy(paul_profile.mailbox, letter)
    page = paul_client.get(reverse("patients:thread", args=[copy.pk])).content.decode()
    assert "Bonjour" in page and "pas encore activée" in page and "Envoyer ma réponse" not in page
    assert paul_client.post(reverse("patients:reply", args=[copy.pk]), {"text": "x"}).status_code == 400
    assert not Message.objects.filter(from_mailbox=paul_profile.mailbox).exists()


def test_it_hides_other_patients_messages(paul_client, alice_bal, dr_alice, letter):
    alice_copy = MessageCopy.objects.get(mailbox=alice_bal, message=letter)
    assert paul_client.get(reverse("patients:thread", args=[alice_copy.pk])).status_code == 404
    assert paul_client.get(reverse("patients:attachment", args=[alice_copy.pk, 0])).status_code == 404


def test_it_offers_no_reply_to_an_automatic_service_and_never_shows_its_address(
    paul_client, paul_profile, lab_bal
):
    from apps.messaging.delivery.deliver import do_deliver
    from apps.messaging.delivery.submit import Outgoing, do_submit_message

    mailbox, _token = lab_bal
    message = do_submit_message(
        Outgoing(mailbox=mailbox, to=[PAUL_ADDRESS], subject="Vos résultats", text="Normaux", origin="api"),
        acting_user=None,
    )
    do_deliver(message.deliveries.get().pk)
    copy = _inbox_copy(paul_profile.mailbox, message)
    page = paul_client.get(reverse("patients:thread", args=[copy.pk])).content.decode()
    assert "Réponse impossible" in page and "Envoyer ma réponse" not in page
    assert mailbox.address not in page and "service automatique" in page
    forged = paul_client.post(reverse("patients:reply", args=[copy.pk]), {"text": "Merci"})
    assert forged.status_code == 400 and mailbox.address not in forged.content.decode()
    assert not Message.objects.filter(from_mailbox=paul_profile.mailbox).exists()


def test_it_folds_the_quote_and_signature_of_an_html_letter(paul_client, paul_profile, alice_bal, dr_alice):
    html = (
        "<p>Bonjour, le dosage est normal.</p><div>-- <br>Dr Alice Martin</div>"
        "<p>Le 5 déc. 2026, Paul a écrit :</p><blockquote>Mes résultats sont-ils arrivés ?</blockquote>"
    )
    message = send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Vos résultats", text="", html=html)
    copy = _inbox_copy(paul_profile.mailbox, message)
    body = paul_client.get(reverse("patients:thread", args=[copy.pk])).content.decode()
    assert body.index("le dosage est normal") < body.index('<details class="wm-signature">')
    assert body.index("Afficher le texte cité") < body.index("Mes résultats sont-ils arrivés")
