"""The composer in Chromium: an address outside the trust space is flagged before sending, the draft is saved
as one types (a reload loses nothing), Enter never sends, and a refused submission keeps everything."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.messaging.compose.services import open_draft
from apps.messaging.models import Draft, Message
from tests.e2e.test_mailbox_admin import _login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OUTSIDE = "docteur.dupont@gmail.com"


def test_it_warns_saves_as_you_type_and_keeps_a_refused_message(
    page, live_server, screenshot_dir, dr_alice, alice_bal, cardio_bal
):
    base = live_server.url
    _login(page, base, dr_alice)
    page.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")
    to = page.locator("#id_to")
    to.fill(OUTSIDE)
    to.press("Enter")
    chip = page.locator(".compose-chip", has_text=OUTSIDE)
    expect(chip).to_have_class("compose-chip is-refused")
    expect(chip).to_contain_text("n'appartient pas à l'espace de confiance MSSanté")
    to.fill(cardio_bal.address + ",")
    expect(
        page.locator(".compose-chip", has_text=cardio_bal.address).locator(".recipient-ok")
    ).to_be_visible()

    subject = page.locator("#id_subject")
    subject.fill("Demande d'avis")
    subject.press("Enter")  # saves (the form's default button), never sends
    page.wait_for_url("**/ecrire/?draft=*")
    assert not Message.objects.exists()
    page.locator("#id_body").fill("Bonjour,\nauriez-vous une place ?")
    expect(page.locator("#draft-status")).to_contain_text("Brouillon enregistré à", timeout=10_000)
    page.screenshot(path=str(screenshot_dir / "compose-warning.png"), full_page=True)

    page.reload()  # nothing typed is lost
    expect(page.locator("#id_subject")).to_have_value("Demande d'avis")
    expect(page.locator("#id_body")).to_have_value("Bonjour,\nauriez-vous une place ?")
    expect(page.locator(".compose-chip")).to_have_count(2)

    page.get_by_role("button", name="Envoyer", exact=True).click()
    errors = page.locator("#compose-errors")
    expect(errors).to_contain_text("certains destinataires sont refusés")
    expect(errors).to_contain_text(OUTSIDE)
    assert not Message.objects.exists()
    assert open_draft(Draft.objects.get()).body == "Bonjour,\nauriez-vous une place ?"

    page.locator(".compose-chip", has_text=OUTSIDE).get_by_role("button").click()  # « Retirer … »
    page.locator("#id_body").press("Control+Enter")
    page.wait_for_url("**/suivi/")
    assert Message.objects.get().to_addresses == [cardio_bal.address]
    assert not Draft.objects.exists()

    page.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")  # the next letter: one click on a recent address
    page.get_by_role("button", name=cardio_bal.address).click()
    expect(page.locator(".compose-chip", has_text=cardio_bal.address)).to_be_visible()
    assert page.console_errors == []


def test_it_fits_a_phone(mobile_page, live_server, screenshot_dir, sec_bob, cardio_bal):
    _login(mobile_page, live_server.url, sec_bob)
    mobile_page.goto(f"{live_server.url}/messagerie/{cardio_bal.pk}/ecrire/")
    expect(mobile_page.locator("[data-on-behalf-note]")).to_be_visible()
    width = mobile_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the composer scrolls sideways on a phone ({width}px)"
    mobile_page.screenshot(path=str(screenshot_dir / "compose-phone.png"), full_page=True)
    assert mobile_page.console_errors == []
