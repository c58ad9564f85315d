"""The composer's one « Destinataires » field in Chromium: addresses become chips (annuaire suggestion picked
with the arrow keys, Enter, comma, Tab), Backspace removes the last, a refused address is an error chip with
the rule's French reason, the patient-only controls follow a patient's chip, Cc/Cci stay folded until asked
for; the chips survive a reload; without JavaScript the field is a plain text input of addresses."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.messaging.models import Draft, Message
from tests.e2e.test_mailbox_admin import _login
from tests.messaging.helpers import PDF
from tests.plugins.browser import _open_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OUTSIDE = "docteur.dupont@gmail.com"
PATIENT = "279035121518989@patient.mssante.fr"


def test_three_recipient_chips_and_an_attachment(
    page, live_server, screenshot_dir, tmp_path, dr_alice, alice_bal, cardio_bal, pharmacy_bal
):
    base = live_server.url
    _login(page, base, dr_alice)
    page.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")
    to = page.get_by_label("Destinataires", exact=True)
    expect(to).to_be_visible()
    expect(page.locator("#id_cc")).to_be_hidden()  # Cc/Cci folded: one recipient field
    expect(page.locator("#id_patient_ins")).to_be_hidden()

    # 1. From the annuaire, with the keyboard only: ArrowDown into the suggestions, Enter picks one.
    to.press_sequentially("cardiologie", delay=30)
    expect(page.locator(".suggestion", has_text=cardio_bal.address)).to_be_visible()
    to.press("ArrowDown")
    page.keyboard.press("Enter")
    chip = page.locator(".compose-chip", has_text=cardio_bal.address)
    expect(chip.locator(".recipient-ok")).to_be_visible()
    expect(to).to_be_focused()
    expect(to).to_have_value("")

    # 2. Typed, then Tab: a chip, and the focus moves on.
    to.fill(pharmacy_bal.address)
    to.press("Tab")
    pharmacy = page.locator(".compose-chip", has_text=pharmacy_bal.address)
    expect(pharmacy.locator(".recipient-ok")).to_be_visible()
    expect(to).not_to_be_focused()
    expect(page.locator(".suggestion")).to_have_count(0)  # no stale suggestions left to tab into

    # 3. Outside the trust space, then a comma: an error chip saying why, in French.
    to.fill(OUTSIDE)
    to.press(",")
    refused = page.locator(".compose-chip", has_text=OUTSIDE)
    expect(refused).to_have_class("compose-chip is-refused")
    expect(refused).to_contain_text("n'appartient pas à l'espace de confiance MSSanté")
    expect(page.locator(".compose-chip")).to_have_count(3)

    # A patient's chip shows the patient-only controls; Backspace in the empty field removes it again.
    to.fill(PATIENT)
    to.press("Enter")
    expect(page.locator("#id_patient_ins")).to_be_visible()
    expect(page.get_by_label("Clore l'échange [FIN]", exact=False)).to_be_visible()
    to.press("Backspace")
    expect(page.locator(".compose-chip", has_text=PATIENT)).to_have_count(0)
    expect(page.locator("#id_patient_ins")).to_be_hidden()
    expect(page.locator("[data-chip-status]").first).to_contain_text("retiré des destinataires")

    page.locator("#id_subject").fill("Avis croisé")
    letter = tmp_path / "bilan.pdf"
    letter.write_bytes(PDF)
    page.locator("#id_attachments").set_input_files(str(letter))
    expect(page.locator(".compose-file", has_text="bilan.pdf")).to_be_visible()  # listed, and seen
    expect(page.locator("#draft-status")).to_contain_text("Brouillon enregistré", timeout=10_000)
    page.screenshot(path=str(screenshot_dir / "compose-chips-1366.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(screenshot_dir / "compose-chips-360.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})

    # Cc / Cci on demand.
    more = page.get_by_role("button", name="Cc / Cci")
    expect(more).to_have_attribute("aria-expanded", "false")
    more.click()
    cc = page.locator("#id_cc")
    expect(cc).to_be_visible()
    expect(cc).to_be_focused()
    expect(page.locator("#id_bcc")).to_be_visible()

    draft = Draft.objects.get()
    page.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/?draft={draft.pk}")  # the chips come back
    expect(page.locator(".compose-chip")).to_have_count(3)
    expect(page.locator("#id_cc")).to_be_hidden()  # still no copy: still folded
    page.locator(".compose-chip", has_text=OUTSIDE).get_by_role("button", name=f"Retirer {OUTSIDE}").click()
    page.locator("#id_body").press("Control+Enter")
    page.wait_for_url("**/suivi/")
    assert Message.objects.get().to_addresses == [cardio_bal.address, pharmacy_bal.address]
    assert page.console_errors == []


def test_without_javascript_the_field_is_a_text_input_of_addresses(
    browser, live_server, dr_alice, alice_bal, cardio_bal, pharmacy_bal
):
    for page in _open_page(browser, viewport={"width": 1366, "height": 900}, java_script_enabled=False):
        _login(page, live_server.url, dr_alice)
        page.goto(f"{live_server.url}/messagerie/{alice_bal.pk}/ecrire/")
        expect(page.locator("#id_cc")).to_be_visible()  # nothing folded without a script to unfold it
        expect(page.get_by_role("button", name="Cc / Cci")).to_have_count(0)
        page.get_by_label("Destinataires", exact=True).fill(f"{cardio_bal.address}, {pharmacy_bal.address}")
        page.locator("#id_subject").fill("Sans script")
        page.get_by_role("button", name="Envoyer", exact=True).click()
        page.wait_for_url("**/suivi/")
        assert Message.objects.get().to_addresses == [cardio_bal.address, pharmacy_bal.address]
