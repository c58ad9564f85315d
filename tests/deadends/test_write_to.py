"""« Écrire » opens the composer; no `mailto:` link anywhere in the app (issue 14, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.messaging.webmail.sanitize import sanitize_html

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_no_template_script_or_view_writes_a_mailto_link():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("templates", "static", "apps", "mssante_web")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".html", ".js", ".py", ".txt"}
        and "mailto:" in path.read_text(errors="replace")
        # sanitize.py and this module turn a mailto: of a received message into the composer.
        and path.name not in {"sanitize.py", "views_write_to.py"}
    ]
    assert offenders == []


def test_directory_results_offer_ecrire(alice_client, alice_bal, imported_directory):
    cache.clear()
    page = alice_client.get(reverse("annuaire:search"), {"q": "morel"}).content.decode()
    assert "mailto:" not in page
    assert f"{reverse('messaging:write-to')}?a=" in page and ">Écrire</a>" in page


def test_ecrire_opens_the_composer_of_a_bal_one_may_write_from(alice_client, alice_bal):
    response = alice_client.get(reverse("messaging:write-to"), {"a": "lea.dupont@hopital-b.mssante.fr"})
    assert response.status_code == 302
    assert response["Location"] == f"/messagerie/{alice_bal.pk}/ecrire/?a=lea.dupont@hopital-b.mssante.fr"
    composer = alice_client.get(response["Location"]).content.decode()
    assert 'value="lea.dupont@hopital-b.mssante.fr"' in composer


def test_ecrire_says_why_when_no_bal_allows_writing(client, charlie):
    client.force_login(charlie)
    response = client.get(reverse("messaging:write-to"), {"a": "x@demo.mssante.fr"})
    assert response.status_code == 403
    assert "Aucune de vos BAL ne vous permet d" in response.content.decode()


def test_a_mailto_link_in_a_received_message_opens_the_composer():
    safe = sanitize_html('<a href="mailto:lea.dupont@hopital-b.mssante.fr?subject=x">écrire</a>')
    assert "mailto:" not in safe.html
    assert 'href="/messagerie/ecrire/?a=lea.dupont@hopital-b.mssante.fr"' in safe.html
