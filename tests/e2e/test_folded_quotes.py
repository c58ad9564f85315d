"""Quoted text and signatures of an HTML message folded in Chromium: a « Afficher le texte cité » button,
announced collapsed then expanded, no script needed (strict CSP, no console error), the quote's colours
readable on the light sheet in dark mode too; and the signature page prefilled from the annuaire."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.messaging.models import MessageCopy
from tests.e2e.test_mailbox_admin import _login
from tests.messaging.helpers import send
from tests.messaging.test_html_parts import GMAIL_REPLY
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)
from tests.patients.conftest import PAUL_ADDRESS, PAUL_INS
from tests.plugins.browser import _open_page

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_mailbox_keys"),
]


def _announced(page, selector: str) -> tuple[str, str, object]:  # noqa: ANN001
    """(role, name, expanded) of an element as Chromium gives it to screen readers (CDP)."""
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    ax = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})["nodes"][0]
    states = {item["name"]: item["value"].get("value") for item in ax.get("properties", [])}
    cdp.detach()
    return ax["role"]["value"], ax["name"]["value"], states.get("expanded")


@pytest.mark.parametrize(("width", "height", "scheme"), [(1366, 900, "light"), (360, 740, "dark")])
def test_an_html_reply_shows_its_own_text_and_folds_the_rest(
    browser, live_server, screenshot_dir, width, height, scheme, alice_bal, cardio_bal, dr_alice, sec_bob
):
    message = send(
        alice_bal, dr_alice, [cardio_bal.address], subject="Re: M. Bernard", text="", html=GMAIL_REPLY
    )
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    viewport = {"width": width, "height": height}
    for page in _open_page(browser, viewport=viewport, color_scheme=scheme):
        _login(page, live_server.url, sec_bob)
        page.goto(f"{live_server.url}/messagerie/{cardio_bal.pk}/message/{copy.pk}/")
        expect(page.locator(".wm-html")).to_contain_text("Merci, je le vois demain.")
        quote = page.locator(".wm-html details.wm-quote")
        summary = quote.locator("summary")
        expect(summary).to_have_text("Afficher le texte cité", use_inner_text=True)
        expect(quote.get_by_text("Pouvez-vous voir M. Bernard ?")).to_be_hidden()
        expect(page.locator(".wm-html details.wm-signature summary")).to_have_text(
            "Afficher la signature", use_inner_text=True
        )
        selector = ".wm-html details.wm-quote > summary"
        # Chromium's role for <summary> (screen readers say "button, collapsed"), named by its visible text.
        assert _announced(page, selector) == ("DisclosureTriangle", "Afficher le texte cité", False)
        summary.focus()
        page.keyboard.press("Enter")  # the keyboard opens it, no script involved
        expect(summary).to_have_text("Masquer le texte cité", use_inner_text=True)
        expect(quote.get_by_text("Pouvez-vous voir M. Bernard ?")).to_be_visible()
        assert _announced(page, selector) == ("DisclosureTriangle", "Masquer le texte cité", True)
        colour = quote.evaluate("node => getComputedStyle(node).color")
        assert colour == "rgb(74, 82, 99)", colour  # #4a5263 on the white sheet, dark mode included
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshot_dir / f"folded-html-quote-{width}-{scheme}.png"), full_page=True)
        assert page.console_errors == []


def test_the_signature_page_is_prefilled_from_the_annuaire(
    page, live_server, screenshot_dir, dr_alice, alice_bal
):
    _login(page, live_server.url, dr_alice)
    page.goto(f"{live_server.url}/messagerie/preferences/")
    field = page.get_by_label("Votre signature")
    expect(field).to_have_value("Alice Martin\nMédecin")
    field.fill("Dr Alice Martin\nMédecin généraliste\nTél. 01 23 45 67 89")
    page.get_by_role("button", name="Enregistrer la signature").click()
    expect(page.locator("body")).to_contain_text("Votre signature est enregistrée.")
    page.screenshot(path=str(screenshot_dir / "signature-1366.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=str(screenshot_dir / "signature-360.png"), full_page=True)
    page.goto(f"{live_server.url}/messagerie/{alice_bal.pk}/ecrire/")
    expect(page.locator("#id_body")).to_have_value(
        "\n\n-- \nDr Alice Martin\nMédecin généraliste\nTél. 01 23 45 67 89\nalice.martin@demo.mssante.fr\n"
    )
    assert page.console_errors == []


def test_the_folded_html_message_and_the_signature_page_pass_axe(
    browser, live_server, alice_bal, cardio_bal, dr_alice, sec_bob
):
    """The same axe-core run as test_accessibility.py, on the pages this file adds (opened fold included)."""
    from tests.e2e.test_accessibility import AXE, TAGS, _session

    message = send(
        alice_bal, dr_alice, [cardio_bal.address], subject="Re: Bernard", text="", html=GMAIL_REPLY
    )
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    paths = [f"/messagerie/{cardio_bal.pk}/message/{copy.pk}/", "/messagerie/preferences/"]
    session = _session(sec_bob)
    found: list[str] = []
    for scheme in ("light", "dark"):
        for width, height in ((390, 844), (1366, 900)):
            # bypass_csp only to inject axe, in this context only.
            context = browser.new_context(
                viewport={"width": width, "height": height},
                locale="fr-FR",
                color_scheme=scheme,
                bypass_csp=True,
            )
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = context.new_page()
            for path in paths:
                page.goto(live_server.url + path)
                for summary in page.locator(".wm-html details > summary").all():
                    summary.click()  # the folded parts open: their content is checked too
                page.add_script_tag(path=str(AXE))
                result = page.evaluate(
                    "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
                )
                found += [
                    f"{scheme} {width} {path}: {violation['id']}"
                    for violation in result["violations"]
                    if violation["impact"] in ("serious", "critical")
                ]
            context.close()
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_patient_portal_folds_an_html_letter(
    browser, live_server, screenshot_dir, scheme, patient_paul, alice_bal, dr_alice
):
    from apps.patients.services import do_open_profile
    from tests.patients.test_e2e_portal import _paul_logs_in

    paul_profile = do_open_profile(user=patient_paul, ins=PAUL_INS, activate=True, acting_user=None)

    html = (
        "<p>Bonjour, le dosage est normal.</p><div>-- <br>Dr Alice Martin</div>"
        "<p>Le 5 déc. 2026, Paul a écrit :</p><blockquote>Mes résultats sont-ils arrivés ?</blockquote>"
    )
    message = send(alice_bal, dr_alice, [PAUL_ADDRESS], subject="Vos résultats", text="", html=html)
    copy = MessageCopy.objects.get(mailbox=paul_profile.mailbox, message=message)
    for page in _open_page(
        browser, viewport={"width": 360, "height": 740}, color_scheme=scheme, is_mobile=True
    ):
        _paul_logs_in(page, live_server.url, paul_profile)
        page.goto(f"{live_server.url}/patient/messages/{copy.pk}/")
        expect(page.locator(".portal-text")).to_contain_text("le dosage est normal")
        summary = page.locator(".portal-text details.wm-quote > summary")
        expect(summary).to_have_text("Afficher le texte cité", use_inner_text=True)
        summary.click()
        expect(page.get_by_text("Mes résultats sont-ils arrivés ?")).to_be_visible()
        expect(page.locator(".portal-text .wm-quote")).to_contain_text("Paul a écrit")  # headed by who wrote
        # The portal has no white sheet: the quote takes the theme's muted colour, readable in both themes.
        colour, background = page.evaluate(
            "() => { const q = document.querySelector('.portal-text .wm-quote');"
            " return [getComputedStyle(q).color, getComputedStyle(document.body).backgroundColor]; }"
        )
        assert colour != background
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshot_dir / f"portal-folded-html-360-{scheme}.png"), full_page=True)
        assert page.console_errors == []
