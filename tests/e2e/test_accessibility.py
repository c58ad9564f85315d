"""axe-core (from npm, package-lock.json) on the main pages of the webmail and the patient portal, at a
phone and a desktop size, light and dark: no serious or critical violation of WCAG 2.0/2.1 A and AA.
Then on every page of the UI sweep (every GET route a persona may open: journal, administration, directory,
security pages...), each at 1366×900 in light and 390×844 in dark: the two other combinations of every
page would double CI's time for what the main pages already show (the colours and the layout are shared).

The app's Content-Security-Policy forbids injected scripts; axe is injected through a browser context
opened with `bypass_csp` (this test's contexts only: every other browser test runs under the real
policy). No rule is disabled and no element excluded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from apps.messaging.models import MessageCopy
from apps.patients.services import do_open_profile
from tests.e2e.test_ui_sweep import classify, sweep_data  # noqa: F401 (fixture)
from tests.factories import enrol_totp
from tests.messaging.helpers import pdf_part, send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_mailbox_keys"),
]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SIZES = {"phone": (390, 844), "desktop": (1366, 900)}
SCHEMES = ("light", "dark")


def _session(user) -> str:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def pages(dr_alice, sec_bob, patient_paul, alice_bal, cardio_bal) -> list[tuple[object, str]]:
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Compte rendu de M. Bernard",
        text="Bonjour,\n\nLe 5 déc., Bob a écrit :\n> Merci\n-- \nDr Alice Martin",
        attachments=[pdf_part("compte-rendu.pdf")],
    )
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    profile = do_open_profile(user=patient_paul, ins="279035121518989", activate=True, acting_user=None)
    enrol_totp(patient_paul)
    send(alice_bal, dr_alice, [profile.mailbox.address], subject="Re: Vos résultats [FIN]", text="Bonjour")
    paul_copy = MessageCopy.objects.filter(mailbox=profile.mailbox).first()
    return [
        (None, "/comptes/login/"),
        (sec_bob, f"/messagerie/{cardio_bal.pk}/"),
        (sec_bob, f"/messagerie/{cardio_bal.pk}/message/{copy.pk}/"),
        (sec_bob, f"/messagerie/{cardio_bal.pk}/ecrire/"),
        (sec_bob, f"/messagerie/{cardio_bal.pk}/recherche/?q=bernard"),
        (patient_paul, "/patient/"),
        (patient_paul, f"/patient/messages/{paul_copy.pk}/"),
    ]


def _axe_context(browser, live_server, session: str | None, size: str, scheme: str):  # noqa: ANN001, ANN202
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="fr-FR",
        color_scheme=scheme,
        bypass_csp=True,  # to inject axe; this context only
    )
    if session is not None:
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    return context


def _violations(page, label: str) -> list[str]:  # noqa: ANN001
    """The serious and critical violations axe finds on the page now open, with their first targets."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [
        f"{label}: {violation['id']} {[node['target'] for node in violation['nodes'][:3]]}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def _require_axe() -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (make test does)")


def test_the_main_pages_have_no_serious_accessibility_violation(browser, live_server, pages):
    _require_axe()
    sessions = {user.pk: _session(user) for user, _ in pages if user is not None}
    found: list[str] = []
    for scheme in SCHEMES:
        for size in SIZES:
            for user, path in pages:
                session = sessions[user.pk] if user is not None else None
                context = _axe_context(browser, live_server, session, size, scheme)
                page = context.new_page()
                page.goto(live_server.url + path)
                found += _violations(page, f"{scheme} {size} {path}")
                context.close()
    assert found == [], "\n".join(found)


# Every swept page once at a desktop size in light and once at a phone size in dark.
SWEEP_COMBINATIONS = (("desktop", "light"), ("phone", "dark"))


def test_every_swept_page_has_no_serious_accessibility_violation(browser, live_server, sweep_data):  # noqa: F811
    _require_axe()
    visits, _, _ = classify(sweep_data)
    assert sum(len(paths) for paths in visits.values()) > 40, "the sweep's pages were not found"
    found: list[str] = []
    for persona, paths in visits.items():
        session = _session(sweep_data[persona][0])
        for size, scheme in SWEEP_COMBINATIONS:
            context = _axe_context(browser, live_server, session, size, scheme)
            page = context.new_page()
            for path in paths:
                page.goto(live_server.url + path)
                page.wait_for_load_state("load")
                found += _violations(page, f"{persona} {scheme} {size} {path}")
            context.close()
    assert found == [], "\n".join(found)
