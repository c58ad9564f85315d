"""In a browser: a professional finds "cardiologue à Lyon" and a misspelt name from the directory page."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_it_finds_cardiologists_in_lyon_and_a_misspelt_name(page, live_server, dr_alice, imported_directory):
    from playwright.sync_api import expect

    _log_in(page, live_server, dr_alice)
    page.goto(live_server.url + "/annuaire/")
    expect(page.get_by_role("heading", name="Annuaire Santé")).to_be_visible()

    page.get_by_label("Nom, profession, spécialité ou structure").fill("cardiologue")
    page.get_by_label("Commune, code postal ou département").fill("Lyon")
    page.get_by_role("button", name="Rechercher").click()
    results = page.locator(".directory-entry")
    expect(results.first).to_be_visible()
    expect(results.filter(has_text="Cardiologie et maladies vasculaires").first).to_contain_text("LYON")
    assert all("LYON" in text for text in results.all_inner_texts())
    expect(page).to_have_url(re.compile(r"q=cardiologue"))

    page.get_by_label("Commune, code postal ou département").fill("")
    name_box = page.get_by_label("Nom, profession, spécialité ou structure")
    name_box.fill("")
    name_box.press_sequentially("Dupond", delay=30)
    suggestion = page.locator("#annuaire-suggestions .suggestion").first
    expect(suggestion).to_contain_text("DUPONT")
    address = suggestion.get_attribute("data-address")
    suggestion.click()
    expect(page.locator(".directory-entry")).to_have_count(1)
    expect(page.locator(".directory-entry")).to_contain_text(address)
    assert page.console_errors == []


def test_two_word_typos_find_their_target_in_the_composer_and_on_the_directory_page(
    page, live_server, dr_alice, alice_bal, imported_directory
):
    """Issue 14: « phamacie bordeaux » in the composer's recipient field, « cardiologie ajacio » and
    « Alise Martin » on the directory page."""
    from playwright.sync_api import expect

    _log_in(page, live_server, dr_alice)
    page.goto(f"{live_server.url}/messagerie/{alice_bal.pk}/ecrire/")
    page.locator("#id_to").press_sequentially("phamacie bordeaux", delay=20)
    suggestions = page.locator(".suggestion")
    expect(suggestions.first).to_be_visible()
    assert any("PHARMACIE BORDEAUX" in text for text in suggestions.all_inner_texts()[:3])

    page.goto(live_server.url + "/annuaire/")
    page.get_by_label("Nom, profession, spécialité ou structure").fill("cardiologie ajacio")
    page.get_by_role("button", name="Rechercher").click()
    entries = page.locator(".directory-entry")
    expect(entries.first).to_be_visible()
    assert any("AJACCIO" in text and "Cardiologie" in text for text in entries.all_inner_texts()[:3])

    name_box = page.get_by_label("Nom, profession, spécialité ou structure")
    name_box.fill("")
    name_box.press_sequentially("Alise Martin", delay=20)
    expect(page.locator("#annuaire-suggestions .suggestion").first).to_contain_text("alice.martin@")
    assert page.console_errors == []
