"""axe-core (from npm, package-lock.json) on the main pages of the webmail and the patient portal, at a
phone and a desktop size, light and dark: no serious or critical violation of WCAG 2.0/2.1 A and AA.

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


def test_the_main_pages_have_no_serious_accessibility_violation(browser, live_server, pages):
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (make test does)")
    sessions = {user.pk: _session(user) for user, _ in pages if user is not None}
    found: list[str] = []
    for scheme in SCHEMES:
        for size, (width, height) in SIZES.items():
            for user, path in pages:
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    locale="fr-FR",
                    color_scheme=scheme,
                    bypass_csp=True,  # to inject axe; this context only
                )
                if user is not None:
                    context.add_cookies(
                        [{"name": "sessionid", "value": sessions[user.pk], "url": live_server.url}]
                    )
                page = context.new_page()
                page.goto(live_server.url + path)
                page.add_script_tag(path=str(AXE))
                result = page.evaluate(
                    "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
                )
                for violation in result["violations"]:
                    if violation["impact"] in ("serious", "critical"):
                        targets = [node["target"] for node in violation["nodes"][:3]]
                        found.append(f"{scheme} {size} {path}: {violation['id']} {targets}")
                context.close()
    assert found == [], "\n".join(found)
