"""Issue 14's journeys in Chromium, at 1366×900 and 390×844: the dead ends a new user used to hit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

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
