"""The sender's delivery timeline (queued -> delivered -> read, or failed with the reason) and the read
receipt preference that decides whether "read" ever shows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.messaging.delivery.deliver import do_deliver, do_fail_delivery
from apps.messaging.models import Delivery, DeliveryState, MessageCopy
from apps.messaging.webmail.services import do_mark_read
from tests.messaging.helpers import send

pytestmark = pytest.mark.django_db


def _url(copy: MessageCopy) -> str:
    return reverse("messaging:message-timeline", args=[copy.mailbox_id, copy.pk])


def _sent(alice_bal, dr_alice, to, **fields):  # noqa: ANN001, ANN003, ANN202
    message = send(alice_bal, dr_alice, to, deliver=False, **fields)
    return message, MessageCopy.objects.get(message=message, mailbox=alice_bal)


def test_it_polls_while_deliveries_are_queued(alice_client, dr_alice, alice_bal, cardio_bal):
    _message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre")
    response = alice_client.get(_url(copy))
    html = response.content.decode()
    assert response.status_code == 200 and "Suivi de votre message" in html and "Lettre" in html
    assert f'data-recipient="{cardio_bal.address}" data-state="queued"' in html
    assert 'hx-trigger="every 3s"' in html


def test_it_shows_delivered_then_read_and_stops_polling(
    alice_client, bob_client, dr_alice, sec_bob, alice_bal, cardio_bal
):
    message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre", read_receipt=True)
    do_deliver(Delivery.objects.get(message=message).pk)
    fragment = alice_client.get(_url(copy), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-state="delivered"' in fragment and 'data-step="delivered" data-done' in fragment
    assert 'data-step="read">' in fragment.replace("\n", "")  # asked, not yet read
    assert 'hx-trigger="every 20s"' in fragment  # only the read receipt can still come
    do_mark_read(MessageCopy.objects.get(message=message, mailbox=cardio_bal), user=sec_bob)
    fragment = alice_client.get(_url(copy), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-step="read" data-done' in fragment and "hx-trigger" not in fragment
    assert "<html" not in fragment  # the htmx fragment alone


def test_it_never_shows_read_when_the_reader_refuses_receipts(
    alice_client, bob_client, dr_alice, sec_bob, alice_bal, cardio_bal
):
    response = bob_client.post(reverse("messaging:preferences"), {"read_receipt_policy": "never"})
    assert response.status_code == 302
    sec_bob.refresh_from_db()
    assert sec_bob.read_receipt_policy == "never"
    assert AuditEvent.objects.filter(
        action="account.read_receipt_policy_changed", actor_id=sec_bob.pk
    ).exists()
    message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre", read_receipt=True)
    do_deliver(Delivery.objects.get(message=message).pk)
    do_mark_read(MessageCopy.objects.get(message=message, mailbox=cardio_bal), user=sec_bob)
    assert Delivery.objects.get(message=message).read_at is None


def test_it_shows_the_failure_reason_in_french(alice_client, dr_alice, alice_bal, cardio_bal):
    message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre")
    delivery = Delivery.objects.get(message=message)
    do_fail_delivery(delivery.pk, code="mailbox_suspended", reason="La boîte aux lettres est suspendue.")
    html = alice_client.get(_url(copy)).content.decode()
    assert 'data-state="failed"' in html and "Échec de la remise" in html
    assert "La boîte aux lettres est suspendue." in html and "hx-trigger" not in html
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.FAILED


def test_it_is_only_for_the_senders_own_copy(
    alice_client, bob_client, charlie_client, dr_alice, alice_bal, cardio_bal
):
    message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre")
    do_deliver(Delivery.objects.get(message=message).pk)
    received = MessageCopy.objects.get(message=message, mailbox=cardio_bal)
    assert charlie_client.get(_url(copy)).status_code == 404
    assert bob_client.get(_url(received)).status_code == 404  # a received copy has no sender timeline
    wrong_bal = reverse("messaging:message-timeline", args=[cardio_bal.pk, copy.pk])
    assert alice_client.get(wrong_bal).status_code == 404


def test_it_shows_the_preferences_page(bob_client):
    html = bob_client.get(reverse("messaging:preferences")).content.decode()
    assert "Préférences de messagerie" in html and 'value="always"' in html and "checked" in html


def test_it_gives_the_message_view_a_placeholder_that_loads_the_timeline(dr_alice, alice_bal, cardio_bal):
    from django.template.loader import render_to_string

    message, copy = _sent(alice_bal, dr_alice, [cardio_bal.address], subject="Lettre")
    html = render_to_string("messaging/_timeline_loader.html", {"copy": copy, "mailbox": alice_bal})
    assert f'hx-get="{_url(copy)}"' in html and 'hx-trigger="load"' in html
    received = MessageCopy(mailbox=cardio_bal, message=message, is_outgoing=False)
    assert (
        render_to_string("messaging/_timeline_loader.html", {"copy": received, "mailbox": cardio_bal}).strip()
        == ""
    )


def test_it_reads_the_timeline_in_a_fixed_number_of_queries(
    alice_client, dr_alice, alice_bal, cardio_bal, pharmacy_bal
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for recipients in ([cardio_bal.address], [cardio_bal.address, pharmacy_bal.address]):
        _message, copy = _sent(alice_bal, dr_alice, recipients, subject="Lettre", read_receipt=True)
        alice_client.get(_url(copy), HTTP_HX_REQUEST="true")  # warm the session and the BAL key cache
        with CaptureQueriesContext(connection) as queries:
            response = alice_client.get(_url(copy), HTTP_HX_REQUEST="true")
        assert response.content.decode().count("data-recipient=") == len(recipients)
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 12, counts
