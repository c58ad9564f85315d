"""Issue 14's journeys in Chromium, at 1366×900 and 390×844: the dead ends a new user used to hit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.accounts.support import totp_code
from tests.e2e.test_mailbox_admin import _login
from tests.plugins.browser import _open_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=sorted(VIEWPORTS))
def screen(request, browser) -> Iterator[object]:  # noqa: ANN001
    yield from _open_page(browser, **VIEWPORTS[request.param])


def test_the_composer_survives_a_reload_after_an_autosave(
    screen, live_server, dr_alice, alice_bal, cardio_bal
):
    base = live_server.url
    _login(screen, base, dr_alice)
    screen.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")
    screen.locator("#id_subject").fill("Adressage Mme Durand")
    screen.locator("#id_body").fill("Chère consœur,")
    expect(screen.locator("#draft-status")).to_contain_text("Brouillon enregistré à", timeout=10_000)
    assert "RadioNodeList" not in screen.url
    screen.wait_for_url("**/ecrire/?draft=*")
    assert screen.locator("#compose-form").get_attribute("action").endswith(screen.url.split(base)[1])

    screen.reload()
    expect(screen.locator("#id_subject")).to_have_value("Adressage Mme Durand")
    expect(screen.locator("#id_body")).to_have_value("Chère consœur,")
    screen.go_back()  # back leaves the composer for the page before, never a 404
    assert "Page introuvable" not in screen.content()
    assert screen.console_errors == []


def test_a_patient_first_login_reaches_the_portal(screen, live_server, patient_paul):
    from apps.patients.services import do_open_profile
    from tests.e2e.test_mfa_login import _safe_now
    from tests.factories import DEFAULT_PASSWORD

    do_open_profile(user=patient_paul, ins="279035121518989", activate=True, acting_user=None)
    base = live_server.url
    screen.goto(f"{base}/patient/connexion/")
    screen.locator("#id_login").fill(patient_paul.email)
    screen.locator("#id_password").fill(DEFAULT_PASSWORD)
    screen.get_by_role("button", name="Se connecter").click()
    screen.wait_for_url("**/patient/securite/")
    screen.get_by_role("link", name="Commencer").click()
    screen.get_by_role("link", name="Activer une application d'authentification").click()
    screen.wait_for_url("**/comptes/2fa/totp/activate/")
    secret = screen.locator("#authenticator_secret").input_value()
    screen.locator("input[name=code]").fill(totp_code(secret, _safe_now()))
    screen.locator("#contenu form button[type=submit]").first.click()

    screen.wait_for_url("**/compte/second-facteur/codes-de-secours/")
    assert len(screen.locator("ul.codes li").all_inner_texts()) == 10
    screen.get_by_label("J'ai enregistré mes codes de secours en lieu sûr").check()
    screen.get_by_role("button", name="Terminer").click()
    screen.wait_for_url(f"{base}/patient/")
    expect(screen.get_by_role("heading", name="Mes messages")).to_be_visible()
    assert "Aucune BAL ne vous est encore attribuée" not in screen.content()
    assert screen.console_errors == []


def test_alice_finds_the_secretariat_by_part_of_its_address_and_sends_a_pdf(
    screen, live_server, dr_alice, alice_bal, cardio_bal, tmp_path
):
    from apps.messaging.models import Message
    from tests.messaging.helpers import PDF

    base = live_server.url
    _login(screen, base, dr_alice)
    screen.goto(f"{base}/messagerie/{alice_bal.pk}/ecrire/")
    screen.locator("#id_to").press_sequentially("secretariat.car", delay=30)
    suggestion = screen.locator(".suggestion", has_text=cardio_bal.address)
    expect(suggestion).to_be_visible()
    expect(screen.locator(".suggestion").first).to_contain_text(cardio_bal.address)  # hosted here: first
    suggestion.click()
    expect(
        screen.locator(".compose-chip", has_text=cardio_bal.address).locator(".recipient-ok")
    ).to_be_visible()
    screen.locator("#id_subject").fill("Adressage de Mme Durand")
    screen.locator("#id_body").fill("Chère consœur,\nje vous adresse Mme Durand.")
    letter = tmp_path / "lettre-adressage.pdf"
    letter.write_bytes(PDF)
    screen.locator("#id_attachments").set_input_files(str(letter))
    expect(screen.locator("#compose-attachments")).to_contain_text("lettre-adressage.pdf")
    screen.get_by_role("button", name="Envoyer", exact=True).click()
    screen.wait_for_url("**/suivi/")
    sent = Message.objects.get(sent_by=dr_alice)
    assert sent.to_addresses == [cardio_bal.address] and sent.has_attachments
    assert screen.console_errors == []


@pytest.fixture
def desk(browser) -> Iterator[object]:  # noqa: ANN001
    yield from _open_page(browser, **VIEWPORTS["desktop"])


def test_the_journal_fits_1366_pixels(desk, live_server, admin_olga, dr_alice, cardio_bal):
    from apps.audit.services import record_event

    for _ in range(5):
        record_event("message.read", actor=dr_alice, mailbox=cardio_bal, target=cardio_bal)
    _login(desk, live_server.url, admin_olga)
    desk.goto(f"{live_server.url}/journal/")
    expect(desk.locator("table.journal")).to_contain_text("a consulté un message dans la BAL")
    width = desk.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"the journal scrolls sideways at 1366 px ({width}px)"
    assert desk.console_errors == []


def test_olga_creates_a_bal_and_invites_a_secretary_who_joins_it(
    screen, browser, live_server, admin_olga, dr_alice, chu, mailoutbox
):
    import re

    from tests.e2e.test_mfa_login import _safe_now

    base = live_server.url
    _login(screen, base, admin_olga)
    screen.goto(f"{base}/bal/gestion/")
    screen.get_by_role("link", name="Nouvelle BAL organisationnelle").click()
    screen.get_by_label("Partie locale de l'adresse").fill("accueil.cardio")
    screen.get_by_label("Domaine").select_option("demo.mssante.fr")
    screen.get_by_label("Structure", exact=True).fill(chu.name)  # found by its name in the annuaire
    screen.get_by_label("Adresse de connexion du professionnel responsable").fill(dr_alice.email)
    screen.get_by_label("Accord donné par").fill("Directrice générale du CHU")
    screen.get_by_role("button", name="Créer la BAL").click()
    screen.wait_for_url("**/bal/gestion/*/")
    screen.get_by_role("link", name="Inviter une personne sans compte").click()
    screen.get_by_label("Prénom").fill("Claire")
    screen.get_by_label("Nom", exact=True).fill("Noël")
    screen.get_by_label("Adresse e-mail personnelle ou professionnelle").fill("claire.noel@example.org")
    screen.get_by_role("button", name="Envoyer l'invitation").click()
    expect(screen.locator("body")).to_contain_text("Invitation envoyée à claire.noel@example.org")

    link = re.search(r"https?://\S+(/bal/invitation/\S+/)", mailoutbox[-1].body)
    assert link is not None
    claire = _open_page(browser, **VIEWPORTS["phone"])
    page = next(claire)
    page.goto(base + link.group(1))
    page.get_by_label("Mot de passe", exact=True).fill("Un-mot-de-passe-solide-2026")
    page.get_by_label("Mot de passe (confirmation)").fill("Un-mot-de-passe-solide-2026")
    page.get_by_role("button", name="Créer mon compte").click()
    page.get_by_role("link", name="Activer une application d'authentification").click()
    secret = page.locator("#authenticator_secret").input_value()
    page.locator("input[name=code]").fill(totp_code(secret, _safe_now()))
    page.locator("#contenu form button[type=submit]").first.click()
    page.get_by_label("J'ai enregistré mes codes de secours en lieu sûr").check()
    page.get_by_role("button", name="Terminer").click()
    page.wait_for_url("**/messagerie/*/")  # lands on the BAL she was invited to
    expect(page.locator("body")).to_contain_text("accueil.cardio@demo.mssante.fr")
    assert page.console_errors == []
    next(claire, None)  # closes her browser context
