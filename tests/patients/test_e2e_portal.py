"""Issue 8's journeys in Chromium on a phone-sized screen: Alice writes to Paul with a PDF, Paul saves it to
his documents and replies, Alice closes with [FIN] and Paul can no longer reply; Paul writes to his pharmacy
and has no way to write first to a professional; his transparency page lists a letter about him, without
its content. Alice's side goes through the messaging services (her webmail has its own journeys)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from apps.patients.models import PatientDocument
from tests.accounts.support import totp_code
from tests.factories import DEFAULT_PASSWORD, enrol_totp
from tests.messaging.helpers import PDF, pdf_part, send
from tests.patients.conftest import PAUL_ADDRESS, PAUL_INS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _deliver_pending() -> None:
    for pk in Delivery.objects.filter(state=DeliveryState.QUEUED).values_list("pk", flat=True):
        do_deliver(pk)


def _paul_logs_in(page, base: str, profile) -> None:  # noqa: ANN001
    secret = enrol_totp(profile.user)
    page.goto(base + "/patient/")
    page.wait_for_url("**/patient/connexion/**")
    page.get_by_label("Adresse e-mail").fill(profile.user.email)
    page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/comptes/2fa/authenticate/")
    page.locator("input[name=code]").fill(totp_code(secret))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(base + "/patient/")


def test_it_carries_a_letter_to_paul_his_reply_back_and_closes_with_fin(
    mobile_page, live_server, paul_profile, dr_alice, alice_bal, cardio_bal, screenshot_dir
):
    page, base = mobile_page, live_server.url
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Vos résultats", text="Bonjour, voici vos résultats.",
         attachments=[pdf_part("resultats.pdf")])  # fmt: skip
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Avis sur M. Bernard", text="Souffle",
         attachments=[pdf_part("ecg.pdf")], patient_ins=PAUL_INS)  # fmt: skip
    _paul_logs_in(page, base, paul_profile)

    row = page.locator(".portal-item", has_text="Vos résultats")
    expect(row).to_contain_text("Alice Martin")
    expect(page.locator("body")).not_to_contain_text("alice.martin@")
    row.get_by_role("link").click()
    expect(page.locator(".portal-thread")).to_contain_text("voici vos résultats")
    page.get_by_label("Type de document").select_option(label="Résultats d'examens")
    page.get_by_role("button", name="Enregistrer dans mes documents").click()
    expect(page.locator(".msg-success")).to_contain_text("Mes documents")
    page.get_by_label("Votre réponse").fill("Merci docteur, bien reçu.")
    page.get_by_role("button", name="Envoyer ma réponse").click()
    expect(page.locator(".msg-success")).to_contain_text("Alice Martin")
    page.screenshot(path=str(screenshot_dir / "patient-thread.png"), full_page=True)

    _deliver_pending()
    reply = Message.objects.get(from_mailbox=paul_profile.mailbox)
    alice_copy = MessageCopy.objects.get(mailbox=alice_bal, message=reply)
    send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Re: Vos résultats [FIN]", text="Bonne journée.",
         reply_to_copy=alice_copy)  # fmt: skip
    page.reload()
    expect(page.locator("#reply-title")).to_have_text("Échange clôturé par le professionnel")
    expect(page.get_by_role("button", name="Envoyer ma réponse")).to_have_count(0)

    page.get_by_role("link", name="Documents", exact=True).click()
    expect(page.locator(".portal-doc")).to_contain_text("resultats.pdf")
    assert PatientDocument.objects.get(profile=paul_profile).sha256 == _sha256(PDF)

    page.get_by_role("link", name="Échanges", exact=True).click()
    expect(page.locator(".portal-list")).to_contain_text("Alice Martin")
    expect(page.locator(".portal-list")).to_contain_text("Document PDF")
    expect(page.locator("body")).not_to_contain_text("Avis sur M. Bernard")
    assert page.console_errors == []


def test_it_lets_paul_write_to_his_pharmacy_but_not_first_to_a_professional(
    mobile_page, live_server, paul_profile, pharmacy_bal, alice_bal, tmp_path
):
    page, base = mobile_page, live_server.url
    pharmacy_bal.structure.town = "Lyon"
    pharmacy_bal.structure.save(update_fields=["town"])
    _paul_logs_in(page, base, paul_profile)
    page.get_by_role("link", name="Pharmacie", exact=True).click()
    page.get_by_label("Nom de la pharmacie ou commune").fill("martin")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("main")).to_contain_text("Aucune pharmacie")  # Dr Martin is no pharmacy

    page.get_by_label("Nom de la pharmacie ou commune").fill("lyon")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="PHARMACIE DU CENTRE").click()
    photo = tmp_path / "ordonnance.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0JFIF-ordonnance")
    page.get_by_label("Votre message").fill("Bonjour, pouvez-vous préparer cette ordonnance ?")
    page.get_by_label("Photo ou PDF de l'ordonnance").set_input_files(str(photo))
    page.get_by_role("button", name="Envoyer à la pharmacie").click()
    expect(page.locator(".msg-success")).to_contain_text("pharmacie")
    _deliver_pending()
    assert MessageCopy.objects.filter(
        mailbox=pharmacy_bal, message__from_mailbox=paul_profile.mailbox
    ).exists()
    assert page.console_errors == []


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
