"""From the spool to the BAL: the ingest task (idempotent, retried) and the sweeper."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from apps.gateway import services, tasks
from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.services import SpoolEnvelope, do_spool_message
from apps.messaging.models import Message, MessageCopy
from apps.messaging.store import blobs
from tests.gateway.conftest import PEER_DOMAIN, sample_message

SENDER = f"dr.voisin@{PEER_DOMAIN}"
ALICE = "alice.martin@demo.mssante.fr"
PEER_DN = "CN=mx.hopital-voisin.fr,OU=318310021300028,O=GIP HOPITAL VOISIN,C=FR"


def spool_one(raw: bytes | None = None) -> InboundMessage:
    envelope = SpoolEnvelope(sender=SENDER, recipients=[ALICE], peer_dn=PEER_DN, peer_ip="127.0.0.1")
    # Each a distinct message: the same bytes again would be a resend (apps.gateway.dedup).
    body = f"Bonjour,\r\nCompte rendu {uuid.uuid4()} ci-joint.\r\n"
    return do_spool_message(raw or sample_message(SENDER, ALICE, body=body), envelope)


@pytest.fixture(params=["inline", "blob"])
def storage(request, settings) -> str:  # noqa: ANN001
    """Small messages keep their ciphertext in the spool row, large ones in the blob store: both paths."""
    if request.param == "blob":  # a blob file, whatever the blob store keeps in the database
        settings.GATEWAY_SPOOL_INLINE_BYTES = settings.MESSAGE_INLINE_MAX_BYTES = 0
    return request.param


def test_it_ingests_a_spooled_message_into_the_recipient_bal_once(
    alice_bal, eager_tasks, django_capture_on_commit_callbacks, storage
):
    with django_capture_on_commit_callbacks(execute=False):
        spool = spool_one()
    if storage == "inline":
        assert spool.blob == "" and b"Compte rendu" not in bytes(spool.ciphertext)
        blob_path = None
    else:
        assert spool.ciphertext is None
        blob_path = blobs.path_of(spool.blob)

    with django_capture_on_commit_callbacks(execute=True):
        message_id = services.do_ingest(spool.pk)

    message = Message.objects.get(pk=message_id)
    assert message.idempotency_key == f"smtp:{spool.pk}"
    assert message.origin == "smtp"
    assert MessageCopy.objects.filter(message=message, mailbox=alice_bal).exists()
    spool.refresh_from_db()
    assert spool.state == SpoolState.INGESTED
    assert spool.message_id == message.pk
    assert spool.key_wrap is None  # the transit key is gone with the spooled copy
    assert spool.ciphertext is None
    # The spool row no longer names its blob; the file waits BLOB_GRACE_HOURS for the orphan collector.
    assert spool.blob == ""
    assert blob_path is None or time.time() - blob_path.stat().st_mtime < 60
    # A second run (redelivered task, sweeper) changes nothing.
    assert services.do_ingest(spool.pk) is None
    assert Message.objects.count() == 1


def test_it_reuses_the_stored_message_when_a_crash_came_between_deposit_and_spool_update(
    alice_bal, django_capture_on_commit_callbacks
):
    from apps.messaging.delivery.inbound import do_receive_message

    with django_capture_on_commit_callbacks(execute=False):
        spool = spool_one()
        with services.open_plaintext(spool) as raw:
            first = do_receive_message(
                raw=raw,
                envelope_sender=SENDER,
                recipients=[ALICE],
                origin="smtp",
                peer=PEER_DN,
                idempotency_key=f"smtp:{spool.pk}",
            )

        assert services.do_ingest(spool.pk) == first.pk

    assert Message.objects.count() == 1
    spool.refresh_from_db()
    assert spool.state == SpoolState.INGESTED


def test_it_marks_a_spool_whose_ciphertext_was_tampered_with_as_failed_without_retrying(alice_bal, storage):
    spool = spool_one()
    if storage == "inline":
        data = bytearray(spool.ciphertext)
        data[-5] ^= 0xFF
        InboundMessage.objects.filter(pk=spool.pk).update(ciphertext=bytes(data))
    else:
        path = blobs.path_of(spool.blob)
        data = bytearray(path.read_bytes())
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))

    assert tasks.ingest_inbound.apply(args=[str(spool.pk)]).get() is None

    spool.refresh_from_db()
    assert spool.state == SpoolState.FAILED
    assert "failed authentication" in spool.last_error
    assert Message.objects.count() == 0


def test_it_counts_attempts_and_schedules_a_retry_on_a_passing_failure(alice_bal, monkeypatch):
    spool = spool_one()

    def broken(spool_id):  # noqa: ANN001, ANN202
        raise ConnectionError("database went away")

    monkeypatch.setattr(services, "do_ingest", broken)
    with pytest.raises(Retry) as retry:
        tasks.ingest_inbound.apply(args=[str(spool.pk)])

    assert retry.value.when == 30
    spool.refresh_from_db()
    assert (spool.state, spool.attempts) == (SpoolState.RECEIVED, 1)
    assert spool.last_error == "ConnectionError: database went away"
    assert tasks.backoff_seconds(1) == 30
    assert tasks.backoff_seconds(20) == 1800


def test_it_gives_up_after_the_maximum_attempts(alice_bal, monkeypatch, settings):
    settings.GATEWAY_INGEST_MAX_ATTEMPTS = 1
    spool = spool_one()
    monkeypatch.setattr(services, "do_ingest", lambda spool_id: 1 / 0)

    tasks.ingest_inbound.apply(args=[str(spool.pk)])

    spool.refresh_from_db()
    assert spool.state == SpoolState.FAILED
    assert spool.ciphertext and spool.key_wrap is not None  # kept for an administrator to look at


def test_the_batch_task_ingests_each_message_and_retries_a_failing_one_on_its_own(
    alice_bal, monkeypatch, celery_queue, django_capture_on_commit_callbacks
):
    from apps.gateway import ingest_batch

    with django_capture_on_commit_callbacks(execute=False):  # no per-message publish from spool_one
        good, bad, also_good = spool_one(), spool_one(), spool_one()
    real_parse = ingest_batch.parse_received

    def parse(received):  # noqa: ANN001, ANN202
        if received.idempotency_key == f"smtp:{bad.pk}":
            raise ValueError("unreadable in the batch")
        return real_parse(received)

    def ingest(spool_id):  # noqa: ANN001, ANN202 — and alone, a passing failure
        raise ConnectionError("database went away")

    monkeypatch.setattr(ingest_batch, "parse_received", parse)
    monkeypatch.setattr(services, "do_ingest", ingest)
    with django_capture_on_commit_callbacks(execute=True):
        stored = tasks.ingest_inbound_batch.apply(args=[[str(good.pk), str(bad.pk), str(also_good.pk)]]).get()

    assert stored == 2
    states = dict(InboundMessage.objects.values_list("pk", "state"))
    assert (states[good.pk], states[bad.pk], states[also_good.pk]) == (
        SpoolState.INGESTED,
        SpoolState.RECEIVED,
        SpoolState.INGESTED,
    )
    bad.refresh_from_db()
    assert (bad.attempts, bad.last_error) == (1, "ConnectionError: database went away")
    # The failing one goes on alone, with the back-off of `ingest_inbound`.
    retries = [task.args for task in celery_queue.pending() if task.name.startswith("apps.gateway.")]
    assert retries == [[str(bad.pk)]]
    assert [task.name for task in celery_queue.pending() if task.args == [str(bad.pk)]] == [
        "apps.gateway.tasks.ingest_inbound"
    ]


def test_the_sweeper_requeues_only_rows_left_received_too_long(alice_bal, celery_queue, settings):
    settings.GATEWAY_SPOOL_STUCK_AFTER = 120
    stuck, _fresh = spool_one(), spool_one()
    InboundMessage.objects.filter(pk=stuck.pk).update(enqueued_at=timezone.now() - dt.timedelta(minutes=5))

    requeued = services.do_sweep_spool()

    assert requeued == [str(stuck.pk)]  # not `fresh`, enqueued a moment ago
    stuck.refresh_from_db()
    assert stuck.enqueued_at > timezone.now() - dt.timedelta(seconds=10)
    # Swept again at once: nothing, the row was just re-queued.
    assert services.do_sweep_spool() == []


@pytest.mark.slow
def test_a_message_sent_over_smtp_reaches_the_bal_through_a_real_worker(
    gateway, connect, alice_bal, celery_worker_thread
):
    session = connect(gateway.port)
    assert session.sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if MessageCopy.objects.filter(mailbox=alice_bal, message__origin="smtp").exists():
            break
        time.sleep(0.1)
    assert MessageCopy.objects.filter(mailbox=alice_bal, message__origin="smtp").count() == 1
    assert InboundMessage.objects.get().state == SpoolState.INGESTED


def test_an_administrator_requeues_a_failed_row_and_it_is_ingested(
    alice_bal, monkeypatch, settings, django_capture_on_commit_callbacks, eager_tasks
):
    from django.core.management import call_command

    settings.GATEWAY_INGEST_MAX_ATTEMPTS = 1
    spool = spool_one()
    with monkeypatch.context() as patch:
        patch.setattr(services, "do_ingest", lambda spool_id: 1 / 0)
        tasks.ingest_inbound.apply(args=[str(spool.pk)])
    spool.refresh_from_db()
    assert spool.state == SpoolState.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        call_command("gateway_spool", "--retry", str(spool.pk))

    spool.refresh_from_db()
    assert spool.state == SpoolState.INGESTED
    assert Message.objects.filter(idempotency_key=f"smtp:{spool.pk}").exists()
    with pytest.raises(Exception, match="no failed row"):
        call_command("gateway_spool", "--retry", str(spool.pk))


def test_the_spool_command_lists_rows_not_ingested_without_content(alice_bal):
    from io import StringIO

    from django.core.management import call_command

    spool = spool_one()
    out = StringIO()
    call_command("gateway_spool", stdout=out)

    text = out.getvalue()
    assert "received=1 ingested=0 failed=0" in text
    assert f"{spool.pk} received" in text and f"<{SENDER}>" in text
    assert "Compte rendu" not in text  # metadata only
