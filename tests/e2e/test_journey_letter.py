"""Issue 5's journey in Chromium, deliveries by a real Celery worker: Alice finds Bob's secretariat (the
cardiology organisational BAL) in the autocomplete and sends a letter with a PDF; Bob reads it, takes it
("Je m'en occupe") and answers on behalf of the service; Alice sees "Remis" then "Lu" on her timeline.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from tests.e2e.test_mailbox_admin import _login
from tests.messaging.helpers import PDF
from tests.plugins.browser import _open_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUBJECT = "Adressage de Mme Durand"


def _wait_for(condition, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not deliver in time")
        time.sleep(0.2)


def _alice_sends_the_letter(page, base: str, alice_bal, cardio_bal, tmp_path) -> None:  # noqa: ANN001
    page.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")
    page.locator("#id_to").press_sequentially("cardiologie", delay=30)
    suggestion = page.locator(".suggestion", has_text=cardio_bal.address)
    expect(suggestion.locator(".badge")).to_be_visible()  # the BAL kind badge of the annuaire
    suggestion.click()
    chip = page.locator(".compose-chip", has_text=cardio_bal.address)
    expect(chip.locator(".recipient-ok")).to_be_visible()  # checked against the trust rules, accepted
    page.locator("#id_subject").fill(SUBJECT)
    page.locator("#id_body").fill("Chère consœur,\nje vous adresse Mme Durand pour un avis cardiologique.")
    letter = tmp_path / "lettre-adressage.pdf"
    letter.write_bytes(PDF)
    page.locator("#id_attachments").set_input_files(str(letter))
    expect(page.locator("#compose-attachments")).to_contain_text("lettre-adressage.pdf")
    page.get_by_label("Demander un accusé de lecture").check()
    expect(page.locator("#draft-status")).to_contain_text("Brouillon enregistré")
    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url("**/suivi/")
    row = page.locator(f'[data-recipient="{cardio_bal.address}"]')
    expect(row).to_have_attribute("data-state", "delivered", timeout=20_000)  # htmx polling


def _bob_takes_it_and_answers(bob, base: str, cardio_bal, sec_bob) -> None:  # noqa: ANN001
    bob.goto(f"{base}/messagerie/{cardio_bal.pk}/")
    bob.locator(".wm-row-link", has_text=SUBJECT).click()
    expect(bob.locator("body")).to_contain_text("lettre-adressage.pdf")
    bob.get_by_role("button", name="Je m'en occupe").click()
    copy = MessageCopy.objects.get(mailbox=cardio_bal, is_outgoing=False)
    _wait_for(lambda: MessageCopy.objects.get(pk=copy.pk).assignee_id == sec_bob.pk, timeout=10)
    bob.get_by_role("link", name="Répondre", exact=True).click()
    expect(bob.locator("[data-on-behalf-note]")).to_be_visible()
    expect(bob.locator("#id_subject")).to_have_value(f"Re: {SUBJECT}")
    body = bob.locator("#id_body")
    body.press("Control+Home")
    body.press_sequentially("Bien reçu, rendez-vous le 3 décembre à 9 h. ")
    bob.get_by_role("button", name="Envoyer", exact=True).click()
    bob.wait_for_url("**/suivi/")


def test_it_carries_a_letter_to_the_secretariat_and_back(
    page, browser, live_server, celery_worker_thread, dr_alice, sec_bob, alice_bal, cardio_bal, tmp_path,
    screenshot_dir,
):  # fmt: skip
    base = live_server.url
    _login(page, base, dr_alice)
    _alice_sends_the_letter(page, base, alice_bal, cardio_bal, tmp_path)
    letter = Message.objects.get(sent_by=dr_alice)
    assert letter.wants_read_receipt and letter.has_attachments

    bob_pages = _open_page(browser, viewport={"width": 1280, "height": 900})
    bob = next(bob_pages)
    try:
        _login(bob, base, sec_bob)
        _bob_takes_it_and_answers(bob, base, cardio_bal, sec_bob)
        bob.screenshot(path=str(screenshot_dir / "journey-letter-bob-timeline.png"))
        assert bob.console_errors == []
    finally:
        bob_pages.close()

    answer = Message.objects.get(sent_by=sec_bob)
    assert answer.from_mailbox == cardio_bal and answer.sender_address == cardio_bal.address
    assert answer.in_reply_to == letter.message_id
    _wait_for(lambda: Delivery.objects.get(message=answer).state == DeliveryState.DELIVERED)
    assert MessageCopy.objects.filter(message=answer, mailbox=alice_bal, is_outgoing=False).exists()

    page.reload()
    row = page.locator(f'[data-recipient="{cardio_bal.address}"]')
    expect(row.locator('[data-step="delivered"][data-done]')).to_be_visible()
    expect(row.locator('[data-step="read"][data-done]')).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "journey-letter-alice-timeline.png"))
    assert page.console_errors == []
