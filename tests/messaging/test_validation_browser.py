"""The validation queue in Chromium: Alice, responsible for the lab's applicative BAL, reviews what its
software submitted, validates one message through htmx and rejects another with a reason; a hostile subject
runs nothing and the strict CSP is never violated."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from apps.mailboxes.keys import clear_cache
from apps.messaging.models import Delivery, DeliveryState
from tests.e2e.test_mailbox_admin import _login
from tests.messaging.helpers import PDF

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_mailbox_keys():
    clear_cache()
    yield
    clear_cache()


def _submit(token: str, to: str, subject: str) -> str:
    payload = {
        "to": [to],
        "subject": subject,
        "body": "Résultats du bilan sanguin.",
        "attachments": [{"filename": "bilan.pdf", "content_base64": base64.b64encode(PDF).decode()}],
    }
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        reverse("api:messages"), json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_alice_validates_one_message_and_rejects_another(
    page, live_server, screenshot_dir, lab_bal, dr_alice, cardio_bal
):
    mailbox, token = lab_bal
    first = _submit(token, cardio_bal.address, "<script>alert('objet')</script> Bilan de M. Petit")
    second = _submit(token, cardio_bal.address, "Bilan en double")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    _login(page, live_server.url, dr_alice)
    page.goto(live_server.url + reverse("messaging:validation-queue", args=[mailbox.pk]))
    expect(page.get_by_role("heading", name="Messages à valider")).to_be_visible()
    expect(page.get_by_text("2 messages en attente")).to_be_visible()
    expect(page.get_by_role("link", name="bilan.pdf").first).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "validation-queue.png"), full_page=True)

    page.locator(f"input[type=checkbox][value='{first}']").check()
    page.get_by_role("button", name="Valider la sélection").click()
    expect(page.get_by_text("1 message validé")).to_be_visible()
    page.get_by_label("Motif du refus").fill("Envoyé deux fois")
    page.get_by_role("button", name="Refuser").click()
    expect(page.get_by_text("Aucun message n'attend votre validation")).to_be_visible()

    states = dict(Delivery.objects.values_list("message_id", "state"))
    assert {str(k): v for k, v in states.items()} == {
        first: DeliveryState.QUEUED,
        second: DeliveryState.FAILED,
    }
    assert dialogs == []
    assert page.console_errors == []
