"""The validation queue of applicative BALs, end to end through the API: submit -> held -> reviewed by the
responsible professional (content and attachments shown) -> validated and delivered, or rejected with a
reason and never sent; the software reads each outcome from the status endpoint."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from apps.messaging.validation.selectors import decision_cache_key
from apps.messaging.validation.services import do_reject_message, do_validate_all, do_validate_messages
from tests.messaging.helpers import PDF, body_of, subject_of

pytestmark = pytest.mark.django_db


def _submit(token: str, to: list[str], *, subject: str = "Résultats de biologie", key: str = "") -> dict:
    payload = {
        "to": to,
        "subject": subject,
        "body": "Bonjour,\nveuillez trouver les résultats de Mme Durand.",
        "attachments": [
            {
                "filename": "resultats.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            }
        ],
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        reverse("api:messages"), json.dumps(payload), content_type="application/json", **headers
    )
    assert response.status_code == 201, response.content
    return response.json()


def _status(token: str, message_id: str) -> dict:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(reverse("api:message-detail", args=[message_id])).json()


@pytest.fixture
def lab(lab_bal):
    return lab_bal


def test_it_delivers_only_after_the_responsible_validates(
    lab, alice_client, alice_bal, cardio_bal, eager_tasks, django_capture_on_commit_callbacks
):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    assert submitted["status"] == "held"
    assert not MessageCopy.objects.filter(mailbox=cardio_bal).exists()

    queue = alice_client.get(reverse("messaging:validation-queue", args=[mailbox.pk]))
    assert queue.status_code == 200
    page = queue.content.decode()
    assert "Résultats de biologie" in page and "veuillez trouver les résultats" in page
    assert "resultats.pdf" in page and cardio_bal.address in page

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("messaging:validation-validate", args=[mailbox.pk]), {"messages": [submitted["id"]]}
        )
    assert response.status_code == 302
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message_id=submitted["id"])
    assert subject_of(copy) == "Résultats de biologie"
    assert "Mme Durand" in body_of(copy)
    status = _status(token, submitted["id"])
    assert status["status"] == "validated"
    assert status["validation"]["decided_by"] == "alice.martin@demo.mssante.fr"
    assert status["recipients"][0]["state"] == "delivered"
    event = AuditEvent.objects.get(action="message.validated", target_id=submitted["id"])
    assert event.actor_label == "alice.martin@demo.mssante.fr" and event.mailbox_id == mailbox.pk
    # The decision is final: remembered on commit, so status polls do not search the journal.
    assert cache.get(decision_cache_key(submitted["id"])) == (
        event.occurred_at.isoformat(),
        event.actor_label,
    )
    assert status["validation"]["decided_at"] == event.occurred_at.isoformat()


def test_a_rejected_message_is_never_sent_and_the_software_reads_the_reason(
    lab, alice_client, cardio_bal, celery_queue, django_capture_on_commit_callbacks
):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("messaging:validation-reject", args=[mailbox.pk, submitted["id"]]),
            {"reason": "Mauvais  patient,\n à corriger"},
        )
    assert response.status_code == 302
    assert celery_queue.pending() == []  # nothing was handed to the delivery pipeline
    delivery = Delivery.objects.get(message_id=submitted["id"])
    assert delivery.state == DeliveryState.FAILED and delivery.error_code == "rejected"
    assert not MessageCopy.objects.filter(mailbox=cardio_bal).exists()
    assert Message.objects.get(pk=submitted["id"]).transit_key_wrap is None
    status = _status(token, submitted["id"])
    assert status["status"] == "rejected"
    assert status["validation"]["reason"] == "Refusé lors de la validation : Mauvais patient, à corriger"
    assert status["recipients"][0]["state"] == "failed"
    event = AuditEvent.objects.get(action="message.rejected", target_id=submitted["id"])
    assert "Mauvais" not in json.dumps(event.details)  # free text stays out of the journal
    # Validating it afterwards changes nothing.
    do_validate_messages([Message.objects.get(pk=submitted["id"])], acting_user=mailbox.responsible)
    assert Delivery.objects.get(message_id=submitted["id"]).state == DeliveryState.FAILED


def test_it_validates_several_then_all_with_htmx(lab, alice_client, alice_bal, cardio_bal):
    mailbox, token = lab
    ids = [_submit(token, [cardio_bal.address], subject=f"Lot {n}")["id"] for n in range(4)]
    response = alice_client.post(
        reverse("messaging:validation-validate", args=[mailbox.pk]),
        {"messages": ids[:2]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'id="validation-queue"' in fragment and "2 messages validés" in fragment
    assert "Lot 2" in fragment and "Lot 0" not in fragment
    states = dict(Delivery.objects.filter(message_id__in=ids).values_list("message_id", "state"))
    assert [states[Message.objects.get(pk=i).pk] for i in ids] == ["queued", "queued", "held", "held"]
    response = alice_client.post(
        reverse("messaging:validation-validate", args=[mailbox.pk]), {"scope": "all"}, HTTP_HX_REQUEST="true"
    )
    assert "Aucun message n'attend votre validation" in response.content.decode()
    assert set(Delivery.objects.filter(message_id__in=ids).values_list("state", flat=True)) == {"queued"}
    assert AuditEvent.objects.filter(action="message.validated").count() == 4


def test_it_shows_the_content_and_opens_the_attachment_for_review(lab, alice_client, cardio_bal):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    detail = alice_client.get(reverse("messaging:validation-detail", args=[mailbox.pk, submitted["id"]]))
    assert detail.status_code == 200
    assert "Mme Durand" in detail.content.decode()
    sent = MessageCopy.objects.get(mailbox=mailbox, message_id=submitted["id"])
    download = alice_client.get(reverse("messaging:attachment-download", args=[mailbox.pk, sent.pk, 0]))
    assert b"".join(download.streaming_content) == PDF


def test_it_asks_for_a_reason_before_rejecting(lab, alice_client, cardio_bal):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    response = alice_client.post(
        reverse("messaging:validation-reject", args=[mailbox.pk, submitted["id"]]),
        {"reason": "  "},
        follow=True,
    )
    assert "Indiquez le motif du refus" in response.content.decode()
    assert Delivery.objects.get(message_id=submitted["id"]).state == DeliveryState.HELD


def test_only_the_responsible_reviews_the_queue(lab, bob_client, charlie_client, cardio_bal, client):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    urls = [
        ("get", reverse("messaging:validation-queue", args=[mailbox.pk])),
        ("get", reverse("messaging:validation-detail", args=[mailbox.pk, submitted["id"]])),
        ("post", reverse("messaging:validation-validate", args=[mailbox.pk])),
        ("post", reverse("messaging:validation-reject", args=[mailbox.pk, submitted["id"]])),
    ]
    data = {"messages": [submitted["id"]], "scope": "all", "reason": "non"}
    for outsider in (bob_client, charlie_client):
        for method, url in urls:
            assert getattr(outsider, method)(url, data).status_code == 404, url
    assert client.get(urls[0][1]).status_code == 302  # anonymous: to the login page
    assert Delivery.objects.get(message_id=submitted["id"]).state == DeliveryState.HELD
    # A BAL that is not applicative has no queue, even for its responsible.
    assert bob_client.get(reverse("messaging:validation-queue", args=[cardio_bal.pk])).status_code == 404


def test_the_services_refuse_anyone_but_the_responsible(lab, charlie, dr_alice, cardio_bal):
    mailbox, token = lab
    message = Message.objects.get(pk=_submit(token, [cardio_bal.address])["id"])
    with pytest.raises(PermissionDenied):
        do_validate_messages([message], acting_user=charlie)
    with pytest.raises(PermissionDenied):
        do_reject_message(message, reason="non", acting_user=charlie)
    with pytest.raises(PermissionDenied):
        do_validate_all(mailbox, acting_user=charlie)
    with pytest.raises(ValidationError):
        do_reject_message(message, reason="x" * 501, acting_user=dr_alice)
    assert do_validate_all(mailbox, acting_user=dr_alice) == 1
    assert do_reject_message(message, reason="trop tard", acting_user=dr_alice) is False


@pytest.mark.slow
def test_a_celery_worker_delivers_what_the_responsible_validated(
    celery_worker_thread, lab, cardio_bal, dr_alice
):
    """No direct call to the delivery service: the validation commits, the on-commit enqueue reaches Redis,
    a real Celery worker consumes it and deposits; the software sees `delivered` through the API."""
    from tests.plugins.throwaway import wait_until

    mailbox, token = lab
    held = _submit(token, [cardio_bal.address], subject="À valider", key="lot-42")
    rejected = _submit(token, [cardio_bal.address], subject="À refuser")
    alice = Client()
    alice.force_login(dr_alice)
    alice.post(reverse("messaging:validation-validate", args=[mailbox.pk]), {"messages": [held["id"]]})
    alice.post(
        reverse("messaging:validation-reject", args=[mailbox.pk, rejected["id"]]), {"reason": "Doublon"}
    )
    wait_until(
        # .get(): a poll answered 429 (the per-credential rate limit) just means "not yet".
        lambda: (_status(token, held["id"]).get("recipients") or [{}])[0].get("state") == "delivered",
        timeout=60,
        interval=1.0,
        what="the validated message delivered",
    )
    assert subject_of(MessageCopy.objects.get(mailbox=cardio_bal)) == "À valider"
    assert _status(token, rejected["id"])["status"] == "rejected"


def test_the_status_finds_the_decision_in_the_journal_when_the_cache_lost_it(lab, dr_alice, cardio_bal):
    mailbox, token = lab
    submitted = _submit(token, [cardio_bal.address])
    do_reject_message(Message.objects.get(pk=submitted["id"]), reason="Erreur", acting_user=dr_alice)
    cache.delete(decision_cache_key(submitted["id"]))  # (under `db`, the on-commit write never ran anyway)
    status = _status(token, submitted["id"])
    assert status["status"] == "rejected"
    assert status["validation"]["decided_by"] == "alice.martin@demo.mssante.fr"
    assert status["validation"]["decided_at"] is not None


def test_the_webmail_of_an_applicative_bal_links_to_its_validation_queue(alice_client, lab):
    mailbox, _secret = lab
    page = alice_client.get(reverse("messaging:inbox", args=[mailbox.pk]), follow=True).content.decode()
    assert reverse("messaging:validation-queue", args=[mailbox.pk]) in page


def test_a_delegate_named_by_the_managers_validates_like_the_responsible(
    lab, alice_client, charlie, charlie_client, cardio_bal, django_capture_on_commit_callbacks
):
    mailbox, token = lab
    held = _submit(token, [cardio_bal.address])
    queue_url = reverse("messaging:validation-queue", args=[mailbox.pk])
    assert charlie_client.get(queue_url).status_code == 404  # not yet a delegate

    response = alice_client.post(
        reverse("mailboxes:delegate-add", args=[mailbox.pk]), {"user": charlie.email}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="mailbox.delegate_added", mailbox_id=mailbox.pk).exists()
    assert charlie_client.get(queue_url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        charlie_client.post(
            reverse("messaging:validation-validate", args=[mailbox.pk]), {"messages": [held["id"]]}
        )
    assert Delivery.objects.get(message_id=held["id"]).state != DeliveryState.HELD

    delegate = mailbox.validation_delegates.get()
    alice_client.post(reverse("mailboxes:delegate-remove", args=[mailbox.pk, delegate.pk]))
    assert charlie_client.get(queue_url).status_code == 404
