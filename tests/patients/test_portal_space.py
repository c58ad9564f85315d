"""The rest of the portal: writing to a pharmacy, documents, the transparency page, settings."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.messaging.models import Message, MessageCopy
from apps.patients.models import PatientDocument, ProfileState
from tests.messaging.helpers import PDF, pdf_part, send
from tests.patients.conftest import PAUL_INS


def test_it_finds_pharmacies_by_name_or_town_and_never_shows_their_address(paul_client, pharmacy_bal, chu):
    pharmacy_bal.structure.town = "Lyon"
    pharmacy_bal.structure.save(update_fields=["town"])
    by_town = paul_client.get(reverse("patients:pharmacies"), {"q": "lyon"}).content.decode()
    assert "PHARMACIE DU CENTRE" in by_town and "pharmacie.centre@" not in by_town
    by_name = paul_client.get(reverse("patients:pharmacies"), {"q": "centré"}).content.decode()
    assert "PHARMACIE DU CENTRE" in by_name
    assert (
        "Aucune pharmacie" in paul_client.get(reverse("patients:pharmacies"), {"q": "paris"}).content.decode()
    )


def test_it_sends_a_prescription_photo_to_a_pharmacy(paul_client, paul_profile, pharmacy_bal):
    page = paul_client.get(reverse("patients:pharmacies"), {"pharmacie": pharmacy_bal.pk}).content.decode()
    assert "Envoyer à la pharmacie" in page
    photo = SimpleUploadedFile("ordonnance.jpg", b"\xff\xd8\xff\xe0JFIF", content_type="image/jpeg")
    response = paul_client.post(
        reverse("patients:pharmacy-write"),
        {
            "pharmacy": pharmacy_bal.pk,
            "subject": "Mon ordonnance",
            "text": "Bonjour, à préparer.",
            "pieces": [photo],
        },
    )
    assert response.status_code == 302
    message = Message.objects.get(from_mailbox=paul_profile.mailbox)
    assert message.to_addresses == [pharmacy_bal.address] and message.has_attachments
    sent = paul_client.get(reverse("patients:inbox"), {"dossier": "envoyes"}).content.decode()
    assert "À : PHARMACIE DU CENTRE" in sent and "Mon ordonnance" in sent and "pharmacie.centre@" not in sent


def test_it_refuses_a_forged_pharmacy_choice_that_is_a_professional(paul_client, paul_profile, alice_bal):
    response = paul_client.post(
        reverse("patients:pharmacy-write"),
        {"pharmacy": alice_bal.pk, "subject": "Question", "text": "Bonjour"},
    )
    assert response.status_code == 400 and "pas joignable" in response.content.decode()
    assert not Message.objects.filter(from_mailbox=paul_profile.mailbox).exists()


def test_it_adds_downloads_and_deletes_a_document(paul_client, paul_profile):
    upload = SimpleUploadedFile("bilan.pdf", PDF, content_type="application/pdf")
    response = paul_client.post(reverse("patients:document-upload"), {"file": upload, "category": "report"})
    assert response.status_code == 302
    document = PatientDocument.objects.get(profile=paul_profile)
    assert "bilan.pdf" in paul_client.get(reverse("patients:documents")).content.decode()
    download = paul_client.get(reverse("patients:document-download", args=[document.pk]))
    assert b"".join(download.streaming_content) == PDF and "bilan.pdf" in download["Content-Disposition"]
    assert paul_client.post(reverse("patients:document-delete", args=[document.pk])).status_code == 302
    assert not PatientDocument.objects.exists()
    assert AuditEvent.objects.filter(action="patient.document_deleted").exists()


def test_it_refuses_an_upload_that_is_not_a_pdf_or_a_photo(paul_client):
    upload = SimpleUploadedFile("script.html", b"<script>", content_type="text/html")
    response = paul_client.post(reverse("patients:document-upload"), {"file": upload, "category": "other"})
    assert response.status_code == 400 and "Seuls les fichiers PDF" in response.content.decode()
    assert not PatientDocument.objects.exists()


def test_it_keeps_documents_of_one_patient_from_another(paul_client, paul_profile, patient_paul):
    from apps.patients.services import do_open_profile
    from apps.patients.services_documents import do_add_document
    from tests.factories import UserFactory

    other = do_open_profile(
        user=UserFactory(kind="patient", national_id=""),
        ins="269022A00400188",
        activate=True,
        acting_user=None,
    )
    foreign = do_add_document(
        other,
        filename="x.pdf",
        content_type="application/pdf",
        chunks=[PDF],
        category="other",
        acting_user=None,
    )
    assert paul_client.get(reverse("patients:document-download", args=[foreign.pk])).status_code == 404
    assert paul_client.post(reverse("patients:document-delete", args=[foreign.pk])).status_code == 404


def test_it_lists_exchanges_between_professionals_about_the_patient_without_content(
    paul_client, paul_profile, alice_bal, cardio_bal, dr_alice
):
    send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Avis cardiologique confidentiel",
        text="Souffle systolique",
        attachments=[pdf_part("ecg-paul.pdf")],
        patient_ins=PAUL_INS,
    )
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Autre patient", text="x")
    page = paul_client.get(reverse("patients:transparency")).content.decode()
    assert "Alice Martin" in page and "Secrétariat de cardiologie" in page and "Document PDF" in page
    for secret in ("Avis cardiologique", "Souffle", "ecg-paul", "Autre patient", "@demo.mssante.fr"):
        assert secret not in page


def test_it_activates_an_open_profile(open_paul_profile):
    from django.test import Client

    from tests.factories import enrol_totp

    enrol_totp(open_paul_profile.user)
    client = Client()
    client.force_login(open_paul_profile.user)
    assert "Activer ma messagerie" in client.get(reverse("patients:settings")).content.decode()
    assert client.post(reverse("patients:activate")).status_code == 302
    open_paul_profile.refresh_from_db()
    assert open_paul_profile.state == ProfileState.ACTIVATED and open_paul_profile.activated_at


def test_it_closes_the_profile_only_with_confirmation(paul_client, paul_profile):
    paul_client.post(reverse("patients:close"))
    paul_profile.refresh_from_db()
    assert paul_profile.state == ProfileState.ACTIVATED
    paul_client.post(reverse("patients:close"), {"confirm": "on"})
    paul_profile.refresh_from_db()
    assert paul_profile.state == ProfileState.CLOSED and paul_profile.closed_at


def test_it_saves_the_notification_preferences(paul_client, paul_profile):
    refused = paul_client.post(reverse("patients:settings"), {"notify_by_email": "on", "outside_email": ""})
    assert refused.status_code == 400 and "Indiquez l&#x27;adresse" in refused.content.decode()
    response = paul_client.post(
        reverse("patients:settings"), {"notify_by_email": "on", "outside_email": "Paul@Example.org"}
    )
    assert response.status_code == 302
    paul_profile.user.refresh_from_db()
    assert paul_profile.user.outside_email == "paul@example.org"


def test_it_never_shows_the_patient_a_copy_of_a_professionals_bal(
    paul_client, alice_bal, cardio_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Entre nous", text="x")
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    assert paul_client.get(reverse("patients:thread", args=[copy.pk])).status_code == 404
