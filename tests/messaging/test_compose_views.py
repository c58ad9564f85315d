"""The composer's views: who writes from which BAL, autosave, uploads, send, refusals, replies, forwards."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.annuaire.identifiers import compute_ins_key
from apps.mailboxes.models import MemberRole
from apps.mailboxes.services_members import do_add_member
from apps.messaging.compose.selectors import list_draft_files
from apps.messaging.compose.services import attachment_chunks, data_key_of_draft, open_draft
from apps.messaging.models import Delivery, Draft, DraftAttachment, Message, MessageCopy
from apps.messaging.store import content, storage
from tests.factories import UserFactory, enrol_totp
from tests.messaging.helpers import PDF, pdf_part, send, subject_of

pytestmark = pytest.mark.django_db

INS_BODY = "1841275115012"
INS = INS_BODY + f"{compute_ins_key(INS_BODY):02d}"


@pytest.fixture(autouse=True)
def _own_blob_store(settings, tmp_path: Path) -> Path:
    settings.MESSAGE_STORE_DIR = tmp_path / "blobs"
    settings.MESSAGE_INLINE_MAX_BYTES = 0  # every blob a file, so the files can be inspected
    return settings.MESSAGE_STORE_DIR


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def compose_url(mailbox, query: str = "") -> str:  # noqa: ANN001
    return reverse("messaging:compose", args=[mailbox.pk]) + query


def save_url(mailbox, draft_id: object = None) -> str:  # noqa: ANN001
    url = reverse("messaging:draft-save", args=[mailbox.pk])
    return url + (f"?draft={draft_id}" if draft_id else "")


def upload_url(mailbox, draft_id: object = None) -> str:  # noqa: ANN001
    url = reverse("messaging:draft-attachment-upload", args=[mailbox.pk])
    return url + (f"?draft={draft_id}" if draft_id else "")


def fields(**values: object) -> dict[str, object]:
    base: dict[str, object] = {"to": "", "cc": "", "bcc": "", "subject": "", "body": "", "patient_ins": ""}
    base.update(values)
    return base


def test_it_offers_only_the_bals_one_may_send_from(alice_client, alice_bal, cardio_bal):
    response = alice_client.get(compose_url(alice_bal))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nouveau message" in html and alice_bal.address in html
    # Alice is the cardio BAL's responsible professional: she reviews it but does not send from it.
    assert f'value="{cardio_bal.pk}"' not in html
    assert 'data-annuaire-autocomplete="/annuaire/suggestions"' in html


def test_it_answers_404_for_a_bal_one_may_not_send_from(alice_client, charlie_client, alice_bal, cardio_bal):
    assert charlie_client.get(compose_url(alice_bal)).status_code == 404
    # The responsible reads the BAL (so it exists for her): she is told why she cannot write from it.
    refused = alice_client.get(compose_url(cardio_bal))
    assert refused.status_code == 403
    assert "lecture seule" in refused.content.decode()
    assert charlie_client.post(save_url(alice_bal), fields(subject="x")).status_code == 404


def test_it_autosaves_an_encrypted_draft_and_reopens_it(alice_client, dr_alice, alice_bal, cardio_bal):
    response = alice_client.post(
        save_url(alice_bal),
        fields(
            to=cardio_bal.address, subject="Adressage Mme Durand", body="Chère consœur", read_receipt="on"
        ),
    )
    assert response.status_code == 200
    assert "Brouillon enregistré" in response.content.decode()
    draft = Draft.objects.get(pk=response["X-Draft-Id"])
    assert draft.author == dr_alice and draft.mailbox == alice_bal
    assert b"Durand" not in bytes(draft.content_enc)  # sealed with the draft's own data key
    data = open_draft(draft)
    assert (data.to, data.subject, data.body, data.read_receipt) == (
        [cardio_bal.address],
        "Adressage Mme Durand",
        "Chère consœur",
        True,
    )
    page = alice_client.get(compose_url(alice_bal, f"?draft={draft.pk}")).content.decode()
    assert "Adressage Mme Durand" in page and cardio_bal.address in page


def test_it_updates_the_same_draft_on_each_autosave(alice_client, alice_bal):
    first = alice_client.post(save_url(alice_bal), fields(subject="Premier jet"))
    draft_id = first["X-Draft-Id"]
    second = alice_client.post(save_url(alice_bal, draft_id), fields(subject="Second jet"))
    assert second["X-Draft-Id"] == draft_id
    assert Draft.objects.count() == 1
    assert open_draft(Draft.objects.get()).subject == "Second jet"


def test_it_keeps_drafts_personal_in_a_shared_bal(bob_client, cardio_bal):
    other = UserFactory(email="claire@demo.mssante.fr", first_name="Claire", last_name="Noël", kind="staff")
    enrol_totp(other)
    do_add_member(cardio_bal, user=other, role=MemberRole.SEND, acting_user=None)
    draft_id = bob_client.post(save_url(cardio_bal), fields(subject="Réponse")).headers["X-Draft-Id"]
    claire = bob_client.__class__()
    claire.force_login(other)
    assert claire.get(compose_url(cardio_bal, f"?draft={draft_id}")).status_code == 404
    assert claire.post(save_url(cardio_bal, draft_id), fields(subject="Volé")).status_code == 404


def test_it_streams_an_upload_encrypted_into_the_draft(alice_client, alice_bal, _own_blob_store):
    upload = SimpleUploadedFile("compte-rendu.pdf", PDF, content_type="application/pdf")
    response = alice_client.post(upload_url(alice_bal), {**fields(subject="Avec PJ"), "attachments": upload})
    assert response.status_code == 200
    assert "compte-rendu.pdf" in response.content.decode()
    draft = Draft.objects.get(pk=response["X-Draft-Id"])
    attachment = DraftAttachment.objects.get(draft=draft)
    assert attachment.size == len(PDF) and attachment.content_type == "application/pdf"
    key = data_key_of_draft(draft)
    assert b"".join(attachment_chunks(draft.pk, attachment, key)) == PDF
    on_disk = _blob_files(_own_blob_store)
    assert len(on_disk) == 1 and b"%PDF" not in on_disk[0].read_bytes()  # ciphertext only
    assert open_draft(draft).subject == "Avec PJ"  # the fields sent with the file are saved too


def test_it_refuses_a_file_over_the_size_limit_with_a_french_message(
    alice_client, alice_bal, settings, _own_blob_store
):
    settings.MESSAGE_MAX_BYTES = 600 * 1024  # leaves about 180 kB for files
    big = SimpleUploadedFile("irm.dcm", b"x" * (300 * 1024), content_type="application/dicom")
    response = alice_client.post(upload_url(alice_bal), {**fields(subject="IRM"), "attachments": big})
    assert response.status_code == 200
    html = response.content.decode()
    assert "« irm.dcm » n&#x27;a pas été joint" in html and "Mo au total" in html
    assert not DraftAttachment.objects.exists()
    assert _blob_files(_own_blob_store) == []  # the partial blob is gone
    assert open_draft(Draft.objects.get()).subject == "IRM"  # the rest of the form was still read


def _send(client, mailbox, query: str = "", **values: object):  # noqa: ANN001, ANN202
    return client.post(compose_url(mailbox, query), {**fields(**values), "action": "send"})


def test_it_sends_and_redirects_to_the_delivery_timeline(alice_client, dr_alice, alice_bal, cardio_bal):
    draft_id = alice_client.post(save_url(alice_bal), fields(subject="Lettre")).headers["X-Draft-Id"]
    upload = SimpleUploadedFile("lettre.pdf", PDF, content_type="application/pdf")
    alice_client.post(upload_url(alice_bal, draft_id), {**fields(subject="Lettre"), "attachments": upload})
    response = _send(
        alice_client,
        alice_bal,
        f"?draft={draft_id}",
        to=cardio_bal.address,
        subject="Lettre d'adressage",
        body="Bonjour",
        patient_ins=INS,
        read_receipt="on",
        from_mailbox=str(alice_bal.pk),
    )
    message = Message.objects.get()
    sent = MessageCopy.objects.get(message=message, mailbox=alice_bal)
    assert response.status_code == 302
    assert response["Location"] == reverse("messaging:message-timeline", args=[alice_bal.pk, sent.pk])
    assert message.patient_ins == INS and message.wants_read_receipt and message.sent_by == dr_alice
    assert message.has_attachments and message.attachments.get().sha256 == storage.sha256_of_chunks([PDF])
    assert Delivery.objects.get(message=message).recipient == cardio_bal.address
    assert not Draft.objects.exists()
    # A second click on « Envoyer » lands on the same message: nothing is sent twice.
    again = _send(alice_client, alice_bal, f"?draft={draft_id}", to=cardio_bal.address, subject="x")
    assert again.status_code == 302 and Message.objects.count() == 1


def test_it_lists_each_refused_address_and_keeps_the_draft(alice_client, alice_bal, cardio_bal):
    response = _send(
        alice_client,
        alice_bal,
        to=f"{cardio_bal.address}, someone@gmail.com",
        cc="inconnu@demo.mssante.fr",
        subject="Refusé",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "certains destinataires sont refusés" in html
    assert (
        "someone@gmail.com" in html and "n&#x27;appartient pas à l&#x27;espace de confiance MSSanté" in html
    )
    assert "inconnu@demo.mssante.fr" in html and "n&#x27;existe pas sur notre plateforme" in html
    assert not Message.objects.exists()
    assert open_draft(Draft.objects.get()).subject == "Refusé"


def test_it_rejects_an_invalid_ins_but_keeps_what_was_typed(alice_client, alice_bal, cardio_bal):
    response = _send(
        alice_client, alice_bal, to=cardio_bal.address, subject="INS", patient_ins="184127511501299"
    )
    assert response.status_code == 200
    assert "Le matricule INS est invalide" in response.content.decode()
    assert not Message.objects.exists()
    assert open_draft(Draft.objects.get()).patient_ins == "184127511501299"


def test_it_explains_a_message_too_large(alice_client, alice_bal, cardio_bal, settings):
    upload = SimpleUploadedFile("gros.pdf", b"%PDF" + b"y" * 200_000, content_type="application/pdf")
    draft_id = alice_client.post(upload_url(alice_bal), {**fields(), "attachments": upload}).headers[
        "X-Draft-Id"
    ]
    settings.MESSAGE_MAX_BYTES = 150_000  # the limit went down since the upload
    response = _send(alice_client, alice_bal, f"?draft={draft_id}", to=cardio_bal.address, subject="Gros")
    assert response.status_code == 200
    assert "dépasse la taille maximale autorisée" in response.content.decode()
    assert not Message.objects.exists() and Draft.objects.filter(pk=draft_id).exists()


def _raw_of(message: Message) -> email.message.EmailMessage:
    copy = MessageCopy.objects.filter(message=message, is_outgoing=True).first()
    key = content.data_key_of_copy(copy)
    raw = b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, key))
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_it_sends_on_behalf_of_the_service(bob_client, sec_bob, cardio_bal, alice_bal):
    response = _send(
        bob_client, cardio_bal, to=alice_bal.address, subject="RDV", from_mailbox=str(cardio_bal.pk)
    )
    assert response.status_code == 302
    message = Message.objects.get()
    parsed = _raw_of(message)
    assert parsed["From"].addresses[0].addr_spec == cardio_bal.address
    assert parsed["Sender"].addresses[0].display_name == "Bob Leroy"
    assert message.sent_by == sec_bob and message.from_mailbox == cardio_bal


def test_it_shows_the_on_behalf_note_for_a_shared_bal(bob_client, cardio_bal):
    html = bob_client.get(compose_url(cardio_bal)).content.decode()
    assert "Envoi au nom du service" in html and "data-on-behalf-note hidden" not in html


def _received(alice_bal, cardio_bal, dr_alice, **fields):  # noqa: ANN001, ANN003, ANN202
    message = send(alice_bal, dr_alice, [cardio_bal.address], **fields)
    return MessageCopy.objects.get(message=message, mailbox=cardio_bal)


def test_it_prefills_a_reply_and_threads_it(bob_client, sec_bob, dr_alice, alice_bal, cardio_bal):
    original = _received(alice_bal, cardio_bal, dr_alice, subject="Adressage", text="Ligne un\nLigne deux")
    page = bob_client.get(compose_url(cardio_bal, f"?reply={original.pk}")).content.decode()
    assert "Re: Adressage" in page and "&gt; Ligne un" in page and alice_bal.address in page
    response = _send(
        bob_client, cardio_bal, f"?reply={original.pk}", to=alice_bal.address, subject="Re: Adressage"
    )
    assert response.status_code == 302
    reply = Message.objects.exclude(pk=original.message_id).get()
    assert reply.in_reply_to == original.message.message_id
    parsed = _raw_of(reply)
    assert str(parsed["In-Reply-To"]).strip() == original.message.message_id
    assert original.message.message_id in parsed["References"]
    original.refresh_from_db()
    assert original.is_answered and original.answered_by == sec_bob


def test_it_replies_to_all_but_oneself(bob_client, dr_alice, alice_bal, cardio_bal, pharmacy_bal):
    message = send(
        alice_bal, dr_alice, [cardio_bal.address], cc=[pharmacy_bal.address], subject="Concertation"
    )
    copy = MessageCopy.objects.get(message=message, mailbox=cardio_bal)
    for query in (f"?reply={copy.pk}&all=1", f"?repondre_tous={copy.pk}"):  # the message view's link too
        form = bob_client.get(compose_url(cardio_bal, query)).context["form"]
        assert form.initial["to"] == alice_bal.address
        assert form.initial["cc"] == pharmacy_bal.address  # not the shared BAL itself


def test_it_forwards_with_the_original_attachments(bob_client, dr_alice, alice_bal, cardio_bal, pharmacy_bal):
    original = _received(
        alice_bal, cardio_bal, dr_alice, subject="Bilan", text="Voir PJ", attachments=[pdf_part()]
    )
    page = bob_client.get(compose_url(cardio_bal, f"?forward={original.pk}")).content.decode()
    assert "Tr: Bilan" in page and "courrier.pdf" in page and "Message transféré" in page
    response = _send(
        bob_client, cardio_bal, f"?forward={original.pk}", to=pharmacy_bal.address, subject="Tr: Bilan"
    )
    assert response.status_code == 302
    forwarded = Message.objects.exclude(pk=original.message_id).get()
    attachment = forwarded.attachments.get()
    assert attachment.sha256 == original.message.attachments.get().sha256
    assert subject_of(MessageCopy.objects.get(message=forwarded, is_outgoing=True)) == "Tr: Bilan"


def test_it_refuses_to_answer_a_copy_of_another_bal(
    alice_client, bob_client, dr_alice, alice_bal, cardio_bal
):
    original = _received(alice_bal, cardio_bal, dr_alice, subject="Privé")
    assert alice_client.get(compose_url(alice_bal, f"?reply={original.pk}")).status_code == 404
    assert alice_client.get(compose_url(alice_bal, f"?forward={original.pk}")).status_code == 404


def test_it_removes_an_attachment_and_deletes_a_draft(alice_client, alice_bal, _own_blob_store):
    upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
    response = alice_client.post(upload_url(alice_bal), {**fields(), "attachments": upload})
    draft = Draft.objects.get(pk=response["X-Draft-Id"])
    attachment = DraftAttachment.objects.get()
    url = (
        reverse("messaging:draft-attachment-delete", args=[alice_bal.pk, attachment.pk])
        + f"?draft={draft.pk}"
    )
    assert alice_client.post(url).status_code == 200
    assert list_draft_files(draft) == []
    delete = reverse("messaging:draft-delete", args=[alice_bal.pk]) + f"?draft={draft.pk}"
    assert alice_client.post(delete).status_code == 302
    assert not Draft.objects.exists()


def test_it_checks_one_recipient_before_sending(alice_client, alice_bal, cardio_bal):
    url = reverse("messaging:recipient-check", args=[alice_bal.pk])
    outside = alice_client.get(url, {"address": "someone@gmail.com"}).content.decode()
    assert "data-refused" in outside and "espace de confiance MSSanté" in outside
    unknown = alice_client.get(url, {"address": "personne@demo.mssante.fr"}).content.decode()
    assert "n&#x27;existe pas" in unknown
    known = alice_client.get(url, {"address": cardio_bal.address}).content.decode()
    assert "data-refused" not in known and "badge" in known


def test_it_escapes_hostile_names_and_subjects(bob_client, dr_alice, alice_bal, cardio_bal):
    hostile = '<img src=x onerror="alert(1)">'
    original = _received(alice_bal, cardio_bal, dr_alice, subject=f"<script>alert(1)</script>{hostile}")
    page = bob_client.get(compose_url(cardio_bal, f"?reply={original.pk}")).content.decode()
    assert "<script>alert(1)" not in page and hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    upload = SimpleUploadedFile(f"{hostile}.pdf", PDF, content_type="application/pdf")
    fragment = bob_client.post(upload_url(cardio_bal), {**fields(), "attachments": upload}).content.decode()
    assert hostile not in fragment and "&lt;img src=x onerror=" in fragment


def test_it_signs_from_the_annuaire(alice_client, bob_client, dr_alice, alice_bal, cardio_bal):
    mine = alice_client.get(compose_url(alice_bal)).context["form"].initial["body"]
    assert mine.startswith("\n\n-- \nAlice Martin\nMédecin\n") and mine.rstrip().endswith(alice_bal.address)
    original = _received(alice_bal, cardio_bal, dr_alice, subject="Avis", text="Question")
    reply = bob_client.get(compose_url(cardio_bal, f"?reply={original.pk}")).context["form"].initial["body"]
    signature = (
        "-- \nBob Leroy\nSecrétariat de cardiologie — CHU DE DEMONSTRATION\n"
        "secretariat.cardio@demo.mssante.fr"
    )
    assert signature in reply
    assert reply.index(signature) < reply.index("> Question")  # above the quoted original


def test_it_sends_a_file_chosen_in_the_form_without_javascript(alice_client, alice_bal, cardio_bal):
    upload = SimpleUploadedFile("ordonnance.pdf", PDF, content_type="application/pdf")
    data = {**fields(to=cardio_bal.address, subject="Sans JS"), "attachments": upload, "action": "send"}
    response = alice_client.post(compose_url(alice_bal), data)
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.attachments.get().size == len(PDF) and not Draft.objects.exists()


def test_it_offers_the_recent_correspondents(alice_client, dr_alice, alice_bal, cardio_bal, pharmacy_bal):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Un")
    send(alice_bal, dr_alice, [pharmacy_bal.address], cc=[cardio_bal.address], subject="Deux")
    assert alice_client.get(compose_url(alice_bal)).context["recent"] == [
        pharmacy_bal.address,
        cardio_bal.address,
    ]


def test_it_closes_an_exchange_with_fin_when_asked(alice_client, alice_bal, cardio_bal):
    _send(
        alice_client,
        alice_bal,
        "",
        to=cardio_bal.address,
        subject="Résultats",
        body="Bonne journée",
        close_exchange="on",
        from_mailbox=str(alice_bal.pk),
    )
    message = Message.objects.get()
    assert message.is_fin and message.mss_headers == {"X-MSS-MES": "FIN"}
    sent = MessageCopy.objects.get(message=message, mailbox=alice_bal)
    from apps.messaging.store import content

    subject = content.open_text(content.data_key_of_copy(sent), message.pk, "subject", message.subject_enc)
    assert subject == "Résultats [FIN]"
