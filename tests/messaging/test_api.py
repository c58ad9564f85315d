"""The applicative API (/api/v1/): authentication by token or proxy-verified client certificate, submission
held for validation (JSON with base64 files, multipart streamed to disk), idempotency per credential, rate
limits, inbox reading with keyset pages and streamed attachments, processed marks, isolation between BALs."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.gateway.pki import CertificateAuthority, subject
from apps.mailboxes.models import ApplicationCredential, MailboxStatus
from apps.mailboxes.services import Address, do_create_applicative_mailbox
from apps.mailboxes.services_members import do_revoke_credential
from apps.messaging.api import serializers
from apps.messaging.delivery.deliver import do_deposit
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy, Origin
from apps.messaging.store import content, storage
from tests.messaging.helpers import PDF, pdf_part, send
from tests.trust.crl_support import forwarded_pem

pytestmark = pytest.mark.django_db

CERT_DN = "CN=dpi.labo-demo.fr,OU=Biologie,O=LABORATOIRE DE BIOLOGIE,C=FR"


def api(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def submit(client: Client, payload: dict, **headers: str):
    return client.post(
        reverse("api:messages"), json.dumps(payload), content_type="application/json", **headers
    )


@pytest.fixture
def lab_token(lab_bal) -> str:
    return lab_bal[1]


@pytest.fixture
def lab_mailbox(lab_bal):
    return lab_bal[0]


@pytest.fixture
def other_app(other_structure, charlie):
    """A second applicative BAL (another structure, another responsible)."""
    return do_create_applicative_mailbox(
        address=Address("noreply-radiologie", "demo.mssante.fr"),
        structure=other_structure,
        responsible=charlie,
        acting_user=None,
    )


def _payload(to: list[str], **extra) -> dict:
    return {"to": to, "subject": "Résultats de biologie", "body": "Résultats en pièce jointe.", **extra}


def _received(lab_mailbox, sender_bal, sender, *, subject: str = "Demande d'analyse", attachments=()):
    """A message deposited in the applicative BAL's Réception (as an inbound delivery would)."""
    message = send(
        sender_bal,
        sender,
        [sender_bal.address],
        deliver=False,
        subject=subject,
        text="Merci de réaliser le bilan.",
        attachments=list(attachments),
    )
    return do_deposit(message, lab_mailbox.pk)


# --- Authentication ----------------------------------------------------------------------------------------


def test_it_refuses_a_request_without_credentials_with_a_french_problem(lab_mailbox):
    response = Client().get(reverse("api:inbox"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"
    assert "Authentification requise" in response.json()["detail"]


def test_it_refuses_a_wrong_secret_and_a_revoked_token(lab_mailbox, lab_token):
    prefix = lab_token.partition(".")[0]
    assert api(prefix + ".faux").get(reverse("api:inbox")).status_code == 401
    do_revoke_credential(lab_mailbox.credentials.get(), acting_user=None)
    assert api(lab_token).get(reverse("api:inbox")).status_code == 401


def test_it_stamps_the_credential_use_for_the_inactivity_cycle(lab_mailbox, lab_token):
    assert lab_mailbox.credentials.get().last_used_at is None
    assert api(lab_token).get(reverse("api:inbox")).status_code == 200
    first = lab_mailbox.credentials.get().last_used_at
    assert first is not None
    api(lab_token).get(reverse("api:inbox"))
    assert lab_mailbox.credentials.get().last_used_at == first  # throttled: one write per resolution


def test_it_answers_403_for_a_suspended_bal(lab_mailbox, lab_token):
    from django.utils import timezone

    type(lab_mailbox).objects.filter(pk=lab_mailbox.pk).update(
        status=MailboxStatus.SUSPENDED, suspended_at=timezone.now()
    )
    response = api(lab_token).get(reverse("api:inbox"))
    assert response.status_code == 403 and response.json()["code"] == "mailbox_suspended"


def test_it_needs_no_csrf_token_and_sets_no_session(lab_token, alice_bal):
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {lab_token}")
    response = submit(client, _payload([alice_bal.address]))
    assert response.status_code == 201
    assert "sessionid" not in response.cookies
    assert response["Cache-Control"] == "no-store"


@pytest.fixture
def cert_settings(settings, lab_mailbox):
    settings.API_CLIENT_CERT_HEADER = "X-SSL-Client-S-DN"
    settings.API_CLIENT_CERT_VERIFY_HEADER = "X-SSL-Client-Verify"
    settings.API_TRUSTED_PROXIES = ["10.0.0.0/8"]
    prefix = lab_mailbox.credentials.get().prefix
    settings.API_CLIENT_CERTS = [f"{prefix} {CERT_DN}"]
    return settings


def test_it_authenticates_a_client_certificate_verified_by_a_trusted_proxy(
    cert_settings, lab_mailbox, tmp_path
):
    # Same subject, other spelling and RDN order: compared attribute by attribute.
    dn = "C=FR, O=Laboratoire de biologie, OU=Biologie, CN=dpi.labo-demo.fr"
    issued = CertificateAuthority(tmp_path).issue(
        "dpi", subject(CN="dpi.labo-demo.fr", OU="Biologie", O="LABORATOIRE DE BIOLOGIE", C="FR")
    )
    client = Client(
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_SSL_CLIENT_S_DN=dn,
        HTTP_X_SSL_CLIENT_VERIFY="SUCCESS",
        HTTP_X_SSL_CLIENT_CERT=forwarded_pem(issued),
    )
    assert client.get(reverse("api:inbox")).status_code == 200
    assert lab_mailbox.credentials.get().last_used_at is not None


def test_it_ignores_certificate_headers_not_written_by_a_trusted_proxy(cert_settings):
    forged = Client(
        REMOTE_ADDR="192.0.2.7", HTTP_X_SSL_CLIENT_S_DN=CERT_DN, HTTP_X_SSL_CLIENT_VERIFY="SUCCESS"
    )
    assert forged.get(reverse("api:inbox")).status_code == 401
    unverified = Client(
        REMOTE_ADDR="10.1.2.3", HTTP_X_SSL_CLIENT_S_DN=CERT_DN, HTTP_X_SSL_CLIENT_VERIFY="FAILED:x"
    )
    assert unverified.get(reverse("api:inbox")).status_code == 401
    unknown = Client(
        REMOTE_ADDR="10.1.2.3", HTTP_X_SSL_CLIENT_S_DN="CN=autre,C=FR", HTTP_X_SSL_CLIENT_VERIFY="SUCCESS"
    )
    assert unknown.get(reverse("api:inbox")).status_code == 401


# --- Submission --------------------------------------------------------------------------------------------


def test_it_holds_a_json_submission_with_a_base64_attachment(lab_mailbox, lab_token, alice_bal, cardio_bal):
    payload = _payload(
        [alice_bal.address],
        cc=[cardio_bal.address],
        patient_ins="255081416802538",
        read_receipt=True,
        attachments=[
            {
                "filename": "../../cr.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            }
        ],
    )
    response = submit(api(lab_token), payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "held" and body["validation"]["state"] == "held"
    assert {r["address"]: r["state"] for r in body["recipients"]} == {
        alice_bal.address: "held",
        cardio_bal.address: "held",
    }
    message = Message.objects.get(pk=body["id"])
    assert response["Location"] == reverse("api:message-detail", args=[message.pk])
    assert message.origin == Origin.API and message.from_mailbox == lab_mailbox
    assert message.patient_ins == "255081416802538" and message.wants_read_receipt
    assert set(Delivery.objects.filter(message=message).values_list("state", flat=True)) == {
        DeliveryState.HELD
    }
    sent = MessageCopy.objects.get(message=message, mailbox=lab_mailbox)
    assert sent.folder.role == FolderRole.SENT
    attachment = message.attachments.get()
    key = content.data_key_of_copy(sent)
    assert content.open_text(key, message.pk, "filename-0", attachment.filename_enc) == "cr.pdf"
    raw = attachment.raw_range(message.raw_blob)
    assert b"".join(storage.read_attachment(message.pk, 0, attachment.blob, raw, key)) == PDF
    assert not MessageCopy.objects.filter(message=message, mailbox=alice_bal).exists()  # nothing sent yet
    event = AuditEvent.objects.get(action="api.message_submitted", target_id=str(message.pk))
    assert event.mailbox_id == lab_mailbox.pk and event.actor_label.startswith("logiciel ")


def test_it_streams_multipart_files_to_disk(lab_token, alice_bal, monkeypatch):
    seen = []
    original = serializers.parse_multipart_submission

    def spy(request):
        result = original(request)
        seen.extend(type(f) for f in request.FILES.getlist("attachments"))
        return result

    monkeypatch.setattr(serializers, "parse_multipart_submission", spy)
    big = b"%PDF-1.4\n" + bytes(range(256)) * 4096  # 1 MiB: under Django's in-memory threshold
    response = api(lab_token).post(
        reverse("api:messages"),
        {
            "metadata": json.dumps(_payload([alice_bal.address])),
            "attachments": [pdf_file("bilan.pdf", big), pdf_file("ordonnance.pdf", PDF)],
        },
    )
    assert response.status_code == 201, response.content
    assert seen == [TemporaryUploadedFile, TemporaryUploadedFile]  # on disk, whatever the size
    message = Message.objects.get(pk=response.json()["id"])
    hashes = list(message.attachments.order_by("position").values_list("sha256", "size"))
    assert [size for _sha, size in hashes] == [len(big), len(PDF)]
    assert hashes[0][0] == hashlib.sha256(big).hexdigest()


def pdf_file(name: str, body: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, body, content_type="application/pdf")


def test_it_explains_what_is_wrong_in_a_submission(lab_token):
    client = api(lab_token)
    response = submit(client, {"subject": "x", "patient_ins": "123", "read_receipt": "oui"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"to", "patient_ins", "read_receipt"}
    assert "INS" in errors["patient_ins"]
    bad_file = submit(
        client, _payload(["a@demo.mssante.fr"], attachments=[{"filename": "a", "content_base64": "@@"}])
    )
    assert bad_file.status_code == 400 and "base64" in bad_file.json()["errors"]["attachments[0]"]
    not_json = client.post(reverse("api:messages"), "{", content_type="application/json")
    assert not_json.status_code == 400
    text = client.post(reverse("api:messages"), "bonjour", content_type="text/plain")
    assert text.status_code == 415
    assert client.post(reverse("api:messages"), {"attachments": []}).status_code == 400  # no metadata
    assert not Message.objects.exists()


def test_it_answers_a_malformed_multipart_body_with_a_problem(lab_token):
    response = api(lab_token).post(
        reverse("api:messages"), b"--x\r\nnimporte", content_type="multipart/form-data; boundary=x"
    )
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_multipart", "invalid_request")
    assert response["Content-Type"] == "application/problem+json"


def test_it_refuses_recipients_with_a_reason_per_address(lab_token, alice_bal):
    response = submit(api(lab_token), _payload([alice_bal.address, "inconnu@demo.mssante.fr"]))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "submission_refused"
    assert "inconnu@demo.mssante.fr" in body["refusals"]
    assert not Message.objects.exists()


def test_it_refuses_a_json_body_over_the_limit(settings, lab_token, alice_bal):
    settings.API_JSON_MAX_BYTES = 1000
    response = submit(api(lab_token), _payload([alice_bal.address], body="x" * 2000))
    assert response.status_code == 413 and "multipart" in response.json()["detail"]


def test_it_refuses_a_message_over_the_size_limit(settings, lab_token, alice_bal):
    settings.MESSAGE_MAX_BYTES = 4000
    payload = _payload(
        [alice_bal.address],
        attachments=[{"filename": "gros.bin", "content_base64": base64.b64encode(b"z" * 5000).decode()}],
    )
    response = submit(api(lab_token), payload)
    assert response.status_code == 413 and response.json()["code"] == "message_too_large"
    assert not Message.objects.exists()


# --- Idempotency and rate limits --------------------------------------------------------------------------


def test_it_replays_a_submission_with_the_same_idempotency_key(lab_token, alice_bal):
    client = api(lab_token)
    first = submit(client, _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="cr-2026-0001")
    again = submit(client, _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="cr-2026-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.count() == 1
    other = submit(client, _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="cr-2026-0002")
    assert other.status_code == 201 and Message.objects.count() == 2


def test_it_scopes_idempotency_keys_to_the_credential(lab_token, other_app, alice_bal):
    _mailbox, other_token = other_app
    mine = submit(api(lab_token), _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="lot-1")
    theirs = submit(api(other_token), _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="lot-1")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_it_refuses_a_malformed_idempotency_key(lab_token, alice_bal):
    response = submit(api(lab_token), _payload([alice_bal.address]), HTTP_IDEMPOTENCY_KEY="x" * 151)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"


def test_it_answers_429_with_retry_after_over_the_rate_limit(settings, lab_token, other_app):
    settings.API_RATE_PER_MINUTE = 2
    client = api(lab_token)
    answers = [client.get(reverse("api:inbox")) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a["RateLimit-Remaining"] for a in answers] == ["1", "0"]
    assert answers[0]["RateLimit-Limit"] == "2"
    limited = client.get(reverse("api:inbox"))
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "2 par minute" in limited.json()["detail"]
    # Another credential has its own budget.
    assert api(other_app[1]).get(reverse("api:inbox")).status_code == 200


# --- Reading the BAL ---------------------------------------------------------------------------------------


def test_it_lists_the_inbox_newest_first_with_keyset_pages(lab_mailbox, lab_token, alice_bal, dr_alice):
    copies = [_received(lab_mailbox, alice_bal, dr_alice, subject=f"Demande {n}") for n in range(3)]
    client = api(lab_token)
    first = client.get(reverse("api:inbox"), {"limit": 2}).json()
    assert [item["subject"] for item in first["items"]] == ["Demande 2", "Demande 1"]
    assert first["items"][0]["from"]["address"] == alice_bal.address
    assert first["next_cursor"]
    second = client.get(reverse("api:inbox"), {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [item["id"] for item in second["items"]] == [copies[0].pk]
    assert second["next_cursor"] is None
    assert client.get(reverse("api:inbox"), {"cursor": "nimporte"}).status_code == 400
    assert client.get(reverse("api:inbox"), {"limit": "500"}).status_code == 400


def test_it_returns_a_received_message_and_streams_its_attachment(
    lab_mailbox, lab_token, alice_bal, dr_alice
):
    copy = _received(lab_mailbox, alice_bal, dr_alice, attachments=[pdf_part("ordonnance.pdf")])
    client = api(lab_token)
    detail = client.get(reverse("api:inbox-detail", args=[copy.pk])).json()
    assert detail["subject"] == "Demande d'analyse" and detail["body"] == "Merci de réaliser le bilan."
    assert detail["attachments"][0]["filename"] == "ordonnance.pdf"
    response = client.get(detail["attachments"][0]["url"])
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert client.get(reverse("api:inbox-attachment", args=[copy.pk, 5])).status_code == 404


def test_it_marks_a_message_processed_once_and_journals_it(lab_mailbox, lab_token, alice_bal, dr_alice):
    copy = _received(lab_mailbox, alice_bal, dr_alice)
    client = api(lab_token)
    first = client.post(reverse("api:inbox-processed", args=[copy.pk]))
    assert first.status_code == 200 and first.json() == {"id": copy.pk, "processed": True, "changed": True}
    assert client.post(reverse("api:inbox-processed", args=[copy.pk])).json()["changed"] is False
    copy.refresh_from_db()
    assert copy.folder.role == FolderRole.ARCHIVE and copy.is_read
    assert client.get(reverse("api:inbox")).json()["items"] == []
    processed = client.get(reverse("api:inbox"), {"state": "processed"}).json()["items"]
    assert [item["id"] for item in processed] == [copy.pk] and processed[0]["processed"]
    assert AuditEvent.objects.filter(action="api.message_processed", target_id=str(copy.pk)).count() == 1
    assert client.get(reverse("api:inbox-processed", args=[copy.pk])).status_code == 405


def test_a_credential_can_neither_read_nor_send_for_another_bal(
    lab_mailbox, lab_token, other_app, alice_bal, dr_alice
):
    other_mailbox, other_token = other_app
    copy = _received(lab_mailbox, alice_bal, dr_alice, attachments=[pdf_part()])
    submitted = submit(api(lab_token), _payload([alice_bal.address])).json()
    intruder = api(other_token)
    assert intruder.get(reverse("api:message-detail", args=[submitted["id"]])).status_code == 404
    assert intruder.get(reverse("api:inbox-detail", args=[copy.pk])).status_code == 404
    assert intruder.get(reverse("api:inbox-attachment", args=[copy.pk, 0])).status_code == 404
    assert intruder.post(reverse("api:inbox-processed", args=[copy.pk])).status_code == 404
    assert intruder.get(reverse("api:inbox")).json()["items"] == []
    # Its own sent copy is not "received" either, and what it submits leaves from its own BAL only.
    sent = MessageCopy.objects.get(message_id=submitted["id"], mailbox=lab_mailbox)
    assert api(lab_token).get(reverse("api:inbox-detail", args=[sent.pk])).status_code == 404
    theirs = submit(intruder, _payload([alice_bal.address], **{"from": lab_mailbox.address})).json()
    assert Message.objects.get(pk=theirs["id"]).from_mailbox == other_mailbox
    copy.refresh_from_db()
    assert copy.folder.role == FolderRole.INBOX


def test_a_held_message_whose_delivery_failed_before_validation_is_reported_failed_with_its_reason(
    lab_token, alice_bal
):
    from apps.messaging.delivery.deliver import do_fail_delivery

    client = api(lab_token)
    submitted = submit(client, _payload([alice_bal.address])).json()
    delivery = Delivery.objects.get(message_id=submitted["id"])
    reason = "Le patient a clos son profil MSSanté : le message ne peut plus lui être remis."
    do_fail_delivery(delivery.pk, code="profile_closed", reason=reason)

    status = client.get(reverse("api:message-detail", args=[submitted["id"]])).json()

    assert status["status"] == "failed"
    assert status["validation"] == {"state": "failed", "decided_at": None, "decided_by": "", "reason": reason}


def test_it_reads_the_status_of_its_submission(lab_token, alice_bal):
    client = api(lab_token)
    submitted = submit(client, _payload([alice_bal.address])).json()
    status = client.get(reverse("api:message-detail", args=[submitted["id"]])).json()
    assert status["status"] == "held" and status["recipients"][0]["state"] == "held"
    assert client.get("/api/v1/messages/00000000-0000-0000-0000-000000000000").status_code == 404
    assert ApplicationCredential.objects.count() == 1
