"""The UI sweep: every GET route of the URL conf that a persona may open, in Chromium, at a phone, a tablet
and a desktop size; plus the webmail's states (reading pane open, « Plus » menu open, bulk selection,
composer with three recipients and an attachment).

On every page: no horizontal scrolling (scrollWidth <= innerWidth), no console error (CSP violations
included), no failed request of the page's own, no `mailto:` link, no emoji, no English UI word outside
ALLOWED_WORDS (text, title and title/aria-label/placeholder/alt attributes); at 360 px every top-bar control,
and every item of the opened « Menu », lies within the window. Routes come from the URL conf
(tests/e2e/ui_routes.py): a route that no persona can fill must be in its exclusion list with a reason, and
`test_every_page_fits_and_speaks_french` first asserts that the pages it visits are exactly the GET routes
minus those exclusions.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.mailboxes.models import MailboxMembership
from apps.messaging.models import Attachment, FolderRole, MessageCopy
from apps.messaging.webmail import selectors
from apps.patients.models import PatientProfile
from apps.patients.services import do_open_profile
from tests.e2e.ui_routes import all_routes, exclusion, fill
from tests.factories import enrol_totp
from tests.messaging.helpers import pdf_part, send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_mailbox_keys"),
]

SIZES = {"phone": (360, 740), "tablet": (768, 1024), "desktop": (1366, 900)}
PAUL_INS = "279035121518989"
DUMMY_UUID = "00000000-0000-4000-8000-000000000000"
# Emoji and pictographs (symbols like « → » or « — » are typography, not emoji).
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b06\u2934\u2935\u25b6\u25c0\u2705\u274c]")
# English UI words (lower case): a French page may show none of them outside ALLOWED_WORDS. Words that are
# French as well ("page", "message", "date", "code", "statut"...) are left out rather than allowed; tokens
# are whole words with their accents, so « Détails » never reads as "details".
_ENGLISH_WORDS = """
    about account accounts add all and anonymous are attach attachment attachments back be by can cancel
    cannot change click close confirm continue copy count dark day days delete denied details disabled
    done download draft drafts edit email empty enabled error event events expired failed false field
    filter first folder folders for forbidden forward found from has have help here hide home if in inbox
    invalid is it item items language last light loading log login logout logs mailbox mailboxes mark
    member members more move must name new next no none not null of oops open
    owner password pending please preferences previous print privacy profile read recovery refresh
    remove reply required result results retry role save search security select selected send sent
    settings should show sign sorry status subject submit success successfully that the theme this time
    to today trash true undo unknown unread update upload user username users view warning welcome will
    with yes yesterday you your
"""
ENGLISH = frozenset(_ENGLISH_WORDS.split())
# English words a French page may show, each with its reason.
ALLOWED_WORDS = {
    "from": "name of the mail header, in parentheses for experts: « expéditeur (From) »",
}


def _client(user) -> Client:  # noqa: ANN001
    client = Client(raise_request_exception=False)  # a 500 is a finding of the sweep, not a crash of it
    client.force_login(user)
    return client


@pytest.fixture
def sweep_data(dr_alice, sec_bob, admin_olga, patient_paul, alice_bal, cardio_bal):
    """Each persona's values for the URL parameters, from data made as the app makes it."""
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Compte rendu de M. Bernard",
        text="Bonjour,\n\nVoici le compte rendu.\n\nLe 5 déc., Bob a écrit :\n> Merci\n-- \nDr Alice Martin",
        attachments=[pdf_part("compte-rendu.pdf")],
    )
    for number in range(3):
        send(alice_bal, dr_alice, [cardio_bal.address], subject=f"Suivi {number}", text="Texte")
    profile: PatientProfile = do_open_profile(
        user=patient_paul, ins=PAUL_INS, activate=True, acting_user=None
    )
    enrol_totp(patient_paul)
    send(alice_bal, dr_alice, [profile.mailbox.address], subject="Vos résultats", text="Bonjour M. Bernard")
    bob_copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    alice_copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    paul_copy = MessageCopy.objects.filter(mailbox=profile.mailbox).first()
    cardio_inbox = selectors.get_system_folder(cardio_bal, FolderRole.INBOX)
    alice_inbox = selectors.get_system_folder(alice_bal, FolderRole.INBOX)
    membership = MailboxMembership.objects.get(mailbox=cardio_bal, user=sec_bob)
    pdf = Attachment.objects.get(message=message).position
    # Ids of rows a persona has none of are 0: a POST-only route still answers 405 to a GET with them.
    dummies = {"pk": 0, "attachment_id": 0, "delegate_id": 0, "credential_id": 0, "document_id": DUMMY_UUID}
    return {
        "bob": (
            sec_bob,
            {
                **dummies,
                "mailbox_id": cardio_bal.pk,
                "folder_id": cardio_inbox.pk,
                "copy_id": bob_copy.pk,
                "position": pdf,
                "message_id": DUMMY_UUID,
            },
        ),
        "alice": (
            dr_alice,
            {
                **dummies,
                "mailbox_id": alice_bal.pk,
                "folder_id": alice_inbox.pk,
                "copy_id": alice_copy.pk,
                "position": pdf,
                "message_id": DUMMY_UUID,
            },
        ),
        "olga": (
            admin_olga,
            {
                **dummies,
                "mailbox_id": cardio_bal.pk,
                "kind": "organisationnelle",
                "membership_id": membership.pk,
                "month": "2026-11",
            },
        ),
        "paul": (patient_paul, {**dummies, "copy_id": paul_copy.pk, "position": 1}),
    }


def classify(sweep_data) -> tuple[dict[str, list[str]], set[str], dict[str, str]]:  # noqa: ANN001
    """(persona -> paths to visit, POST-only route names, route name -> why no persona could open it)."""
    visits: dict[str, list[str]] = {name: [] for name in sweep_data}
    post_only: set[str] = set()
    unopened: dict[str, str] = {}
    for route in all_routes():
        if exclusion(route):
            continue
        statuses = {}
        for persona, (user, values) in sweep_data.items():
            path = fill(route, values)
            if path is None:
                statuses[persona] = "no value"
                continue
            status = _client(user).get(path).status_code
            statuses[persona] = str(status)
            if status == 405:
                post_only.add(route.name)
                break
            if status in (200, 302):
                visits[persona].append(path)
        if route.name not in post_only and not any(s in ("200", "302") for s in statuses.values()):
            unopened[route.name] = ", ".join(f"{p}: {s}" for p, s in statuses.items())
    return visits, post_only, unopened


def test_every_exclusion_names_a_route_that_exists():
    names = {route.name for route in all_routes()}
    from tests.e2e.ui_routes import EXCLUDED_NAMES

    assert set(EXCLUDED_NAMES) <= names, "an exclusion names a route that no longer exists"


# The text a user meets on the page: the title, every text node (hidden menus included: they open), and the
# attributes read aloud or shown on hover or in an empty field.
PAGE_TEXT_JS = """() => {
    const chunks = [document.title];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const parent = walker.currentNode.parentElement;
        if (parent && !parent.closest("script, style")) chunks.push(walker.currentNode.data);
    }
    for (const element of document.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
        for (const name of ["title", "aria-label", "placeholder", "alt"]) {
            if (element.hasAttribute(name)) chunks.push(element.getAttribute(name));
        }
    }
    document.querySelectorAll("input[type=submit], input[type=button]").forEach(b => chunks.push(b.value));
    return chunks.join("\\n");
}"""
# Top-bar controls (links, buttons, the menu's summary) a user can see but that stick out of the window.
TOPBAR_OUTSIDE_JS = """() => [...document.querySelectorAll(".topbar a, .topbar button, .topbar summary")]
    .filter(element => element.checkVisibility())
    .filter(element => {
        const box = element.getBoundingClientRect();
        return box.left < 0 || box.right > window.innerWidth + 0.5;
    })
    .map(element => element.textContent.trim())"""


def english_words(text: str) -> list[str]:
    words = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", text)}
    return sorted((words & ENGLISH) - set(ALLOWED_WORDS))


def test_the_english_scan_reads_whole_words_with_their_accents():
    assert english_words("Détails du message · Préférences · Se déconnecter") == []
    assert english_words("Show details, expéditeur (From)") == ["details", "show"]


def _check_page(page, label: str, failures: list[str]) -> None:  # noqa: ANN001
    state = page.evaluate(
        """() => ({
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            mailto: document.querySelectorAll('a[href^="mailto:"]').length,
            text: document.body.innerText,
        })"""
    )
    if state["overflow"] > 0:
        failures.append(f"{label}: {state['overflow']} px wider than the window")
    if state["mailto"]:
        failures.append(f"{label}: {state['mailto']} mailto: link(s)")
    if EMOJI.search(state["text"]):
        failures.append(f"{label}: emoji {EMOJI.findall(state['text'])[:3]}")
    english = english_words(page.evaluate(PAGE_TEXT_JS))
    if english:
        failures.append(f"{label}: English words {english}")


def _check_topbar(page, label: str, failures: list[str]) -> None:  # noqa: ANN001
    """Every top-bar control within the window, and those of its menu too once opened (phones)."""
    outside = page.evaluate(TOPBAR_OUTSIDE_JS)
    if outside:
        failures.append(f"{label}: top-bar controls outside the window {outside}")
    toggle = page.locator(".topbar .topmenu-toggle")
    if toggle.count() and toggle.is_visible():
        toggle.click()
        expect(page.locator("#topnav")).to_be_visible()
        outside = page.evaluate(TOPBAR_OUTSIDE_JS)
        if outside:
            failures.append(f"{label}: top-bar menu items outside the window {outside}")
        page.keyboard.press("Escape")
        expect(page.locator("#topnav")).to_be_hidden()


def _open_context(browser, live_server, user, width: int, height: int):  # noqa: ANN001, ANN202
    client = _client(user)
    context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    origin = live_server.url
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.url.startswith(origin) and response.status >= 400
            else None
        ),
    )
    page.on(
        "requestfailed",
        # ERR_ABORTED: the page left while a request ran (the list's poll, on navigation): not a failure.
        lambda request: (
            problems.append(f"failed {request.url} {request.failure}")
            if request.url.startswith(origin) and "ERR_ABORTED" not in (request.failure or "")
            else None
        ),
    )
    return context, page, problems


def test_every_page_fits_and_speaks_french(browser, live_server, sweep_data):
    # The sweep covers every GET route: asserted here, on the routes it is about to visit (classifying them
    # costs every route's GET as every persona: done once, not again in a test of its own, for CI's time).
    visits, _, unopened = classify(sweep_data)
    assert unopened == {}, "GET routes no persona could open (fill them or exclude them with a reason)"
    failures: list[str] = []
    for persona, paths in visits.items():
        user = sweep_data[persona][0]
        for size, (width, height) in SIZES.items():
            context, page, problems = _open_context(browser, live_server, user, width, height)
            for path in paths:
                problems.clear()
                page.goto(live_server.url + path)
                page.wait_for_load_state("load")
                _check_page(page, f"{persona} {size} {path}", failures)
                if size == "phone":
                    _check_topbar(page, f"{persona} {size} {path}", failures)
                failures += [f"{persona} {size} {path}: {problem}" for problem in problems]
            context.close()
    assert failures == [], "\n".join(failures)


def test_the_webmail_states_fit_every_size(browser, live_server, sweep_data):
    user, values = sweep_data["bob"]
    inbox = f"/messagerie/{values['mailbox_id']}/"
    failures: list[str] = []
    for size, (width, height) in SIZES.items():
        context, page, problems = _open_context(browser, live_server, user, width, height)
        page.goto(live_server.url + inbox)
        page.locator(".wm-select").first.check()  # bulk selection
        expect(page.locator("[data-bulk-actions]")).to_be_visible()
        page.locator(".wm-select").nth(2).click(modifiers=["Shift"])  # a range
        expect(page.locator("[data-bulk-count]")).to_have_text("3 sélectionnés")
        _check_page(page, f"{size} bulk selection", failures)
        page.locator(".wm-select").first.uncheck()
        page.locator(".wm-row-link", has_text="Compte rendu").click()  # reading pane
        expect(page.locator("#wm-subject")).to_have_text("Compte rendu de M. Bernard")
        expect(page).to_have_url(re.compile(r"/message/\d+/$"))
        expect(page.locator(".wm-quote summary")).to_contain_text("Afficher le texte cité")
        _check_page(page, f"{size} reading pane", failures)
        page.locator(".wm-more-menu summary").click()  # « Plus »
        expect(page.locator(".wm-menu")).to_be_visible()
        _check_page(page, f"{size} menu Plus", failures)
        page.goto(live_server.url + inbox + "ecrire/")  # composer, three recipient chips and a file
        expect(page.locator("#id_patient_ins")).to_be_hidden()  # patient-only: no patient recipient yet
        to = page.locator("#id_to")
        to.fill(f"{PAUL_INS}@patient.mssante.fr")
        to.press("Enter")
        expect(page.locator("#id_patient_ins")).to_be_visible()
        to.press("Backspace")  # removes the patient's chip
        expect(page.locator("#id_patient_ins")).to_be_hidden()
        to.fill(
            "alice.martin@demo.mssante.fr, secretariat.cardio@demo.mssante.fr, charlie.petit@demo.mssante.fr"
        )
        to.press("Enter")
        expect(page.locator(".compose-chip .recipient-check")).to_have_count(3)  # three chips, each checked
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "note.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}]
        )
        page.wait_for_timeout(500)
        _check_page(page, f"{size} composer", failures)
        failures += [f"{size}: {problem}" for problem in problems]
        context.close()
    assert failures == [], "\n".join(failures)
