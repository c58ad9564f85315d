"""The webmail in Chromium: a hostile message runs nothing; the keyboard drives the list and the message;
phones get stacked panes without horizontal scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.mailboxes.models import Mailbox
from apps.messaging.models import MessageCopy
from tests.e2e.test_mailbox_admin import _login
from tests.messaging.helpers import pdf_part, send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_mailbox_keys"),
]

PROBE = "window.__pwned = (window.__pwned || 0) + 1"
HOSTILE_HTML = (
    f'<p onmouseover="{PROBE}" id="hover-me">Bonjour, voici le compte rendu.</p>'
    f"<script>{PROBE}; alert('script')</script>"
    f'<a href="javascript:{PROBE}; alert(1)" id="js-link">Cliquez ici</a>'
    f'<img src="x" onerror="{PROBE}; alert(2)">'
    '<img src="https://tracker.invalid/pixel.gif">'
    f'<svg><script>{PROBE}</script></svg><iframe srcdoc="<script>parent.alert(3)</script>"></iframe>'
    '<form action="https://evil.invalid/"><input name="mdp"><button>Valider</button></form>'
)
HOSTILE_NAME = "<img src=x onerror=\"alert('nom')\">"


@pytest.fixture
def hostile_copy(alice_bal, cardio_bal, dr_alice) -> MessageCopy:
    Mailbox.objects.filter(pk=alice_bal.pk).update(display_name=f"Dr {HOSTILE_NAME}")
    alice_bal.refresh_from_db()
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="<script>alert('objet')</script> Compte rendu",
        text="Version texte",
        html=HOSTILE_HTML,
        attachments=[pdf_part(f"{HOSTILE_NAME}.pdf")],
    )
    return MessageCopy.objects.get(mailbox=cardio_bal, message=message)


def _watch_dialogs(page) -> list[str]:  # noqa: ANN001
    dialogs: list[str] = []

    def record(dialog) -> None:  # noqa: ANN001
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return dialogs


def test_it_runs_nothing_from_a_hostile_message(page, live_server, sec_bob, cardio_bal, hostile_copy):
    base = live_server.url
    dialogs = _watch_dialogs(page)
    _login(page, base, sec_bob)
    page.goto(f"{base}/messagerie/{cardio_bal.pk}/")
    row = page.locator(".wm-row-link").first
    expect(row).to_contain_text("<script>alert('objet')</script> Compte rendu")  # shown as text
    expect(row).to_contain_text("Dr <img src=x")
    row.click()
    expect(page.locator("#wm-subject")).to_have_text("<script>alert('objet')</script> Compte rendu")
    expect(page.locator(".wm-attachments")).to_contain_text(f"{HOSTILE_NAME}.pdf")
    page.locator(".wm-html p", has_text="Bonjour").hover()
    page.locator(
        ".wm-html a", has_text="Cliquez ici"
    ).click()  # its javascript: href was removed: nothing happens
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    assert page.locator(".wm-html script, .wm-html iframe, .wm-html form, .wm-html svg").count() == 0
    expect(page.locator(".wm-remote-images")).to_contain_text("Afficher les images distantes")
    assert page.locator('.wm-html img[src*="tracker.invalid"]').count() == 0
    assert page.console_errors == []  # no CSP violation either: nothing even tried to run


def test_it_drives_the_list_and_the_message_with_the_keyboard(
    page, live_server, sec_bob, alice_bal, cardio_bal, dr_alice, screenshot_dir
):
    for subject in ("Premier message", "Deuxième message", "Troisième message"):
        send(
            alice_bal, dr_alice, [cardio_bal.address], subject=subject, text="Texte", attachments=[pdf_part()]
        )
    base = live_server.url
    _login(page, base, sec_bob)
    page.goto(f"{base}/messagerie/{cardio_bal.pk}/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(".wm-row.is-selected")).to_contain_text("Deuxième message")
    page.keyboard.press("k")
    expect(page.locator(".wm-row.is-selected")).to_contain_text("Troisième message")
    page.screenshot(path=str(screenshot_dir / "webmail-inbox.png"))
    page.keyboard.press("o")
    expect(page.locator("#wm-subject")).to_have_text("Troisième message")
    page.screenshot(path=str(screenshot_dir / "webmail-message.png"))
    expect(page.locator("iframe.wm-pdf")).to_have_attribute("sandbox", "")
    page.keyboard.press("j")  # in a message: the next older one
    expect(page.locator("#wm-subject")).to_have_text("Deuxième message")
    page.keyboard.press("k")
    expect(page.locator("#wm-subject")).to_have_text("Troisième message")
    expect(page).to_have_url(re.compile(r"/message/\d+/$"))  # the URL follows the reading pane
    page.keyboard.press("s")
    page.locator(".wm-more-menu summary").click()  # flagging is in « Plus »: it now offers the opposite
    expect(page.locator('.wm-menu button[data-action="flag"]')).to_have_text("Ne plus suivre")
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#wm-shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#wm-shortcuts")).to_be_hidden()
    page.keyboard.press("u")
    expect(page.locator("#wm-list-title")).to_have_text("Réception")
    page.keyboard.press("j")
    page.keyboard.press("#")
    expect(page.locator(".messages")).to_contain_text("Déplacé dans la corbeille")
    expect(page.locator(".wm-row")).to_have_count(2)
    page.keyboard.press("/")
    expect(page.locator("[data-search-input]")).to_be_focused()
    page.keyboard.type("deuxième")
    page.keyboard.press("Enter")
    expect(page.locator(".wm-row")).to_have_count(1)
    expect(page.locator(".wm-row")).to_contain_text("Deuxième message")
    assert page.console_errors == []


def test_it_stacks_the_panes_on_a_phone(
    mobile_page, live_server, sec_bob, alice_bal, cardio_bal, dr_alice, screenshot_dir
):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Un objet assez long " * 6, text="Texte " * 80)
    base = live_server.url
    _login(mobile_page, base, sec_bob)
    mobile_page.goto(f"{base}/messagerie/{cardio_bal.pk}/")
    # One view at a time: the list, with the bottom bar; the folders are a drawer behind « Dossiers ».
    expect(mobile_page.locator(".wm-list-pane")).to_be_visible()
    expect(mobile_page.locator(".wm-sidebar")).to_be_hidden()
    expect(mobile_page.locator(".wm-reader")).to_be_hidden()
    bar = mobile_page.locator(".wm-bottombar")
    for label in ("Réception", "Rechercher", "Écrire", "Dossiers"):
        expect(bar.get_by_role("link", name=label)).to_be_visible()
    mobile_page.screenshot(path=str(screenshot_dir / "webmail-inbox-phone.png"))
    assert mobile_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    bar.get_by_role("link", name="Dossiers").click()
    expect(mobile_page.locator(".wm-sidebar")).to_be_visible()
    mobile_page.keyboard.press("Escape")
    expect(mobile_page.locator(".wm-sidebar")).to_be_hidden()
    mobile_page.locator(".wm-row-link").first.click()
    expect(mobile_page.locator("#wm-subject")).to_be_visible()
    expect(mobile_page.locator(".wm-list-pane")).to_be_hidden()
    assert mobile_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    mobile_page.go_back()  # back to the list (the page is asked again: nothing is kept in the history cache)
    expect(mobile_page.locator(".wm-list-pane")).to_be_visible()
    assert mobile_page.console_errors == []
