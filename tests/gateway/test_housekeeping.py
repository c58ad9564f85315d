"""Housekeeping (issue 17 point 4): ingested spool rows deleted after their retention, and blob files a
crash left without a row collected only after the grace period; both periodic and safe with writers."""

from __future__ import annotations

import datetime as dt
import os
import time

from django.conf import settings
from django.utils import timezone

from apps.gateway import services
from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.services import SpoolEnvelope, do_spool_message
from apps.messaging.models import Attachment, DraftAttachment, Message
from apps.messaging.store import blobs
from apps.messaging.store.blob_collector import do_collect_orphan_blobs, referencing_fields
from tests.gateway.conftest import PEER_DOMAIN, sample_message

SENDER = f"dr.voisin@{PEER_DOMAIN}"
ALICE = "alice.martin@demo.mssante.fr"


def spool_row(state: str, ingested_hours_ago: float | None = None) -> InboundMessage:
    envelope = SpoolEnvelope(sender=SENDER, recipients=[ALICE], peer_dn="CN=x", peer_ip="127.0.0.1")
    row = do_spool_message(sample_message(SENDER, ALICE, body=f"{state} {ingested_hours_ago}\r\n"), envelope)
    when = None if ingested_hours_ago is None else timezone.now() - dt.timedelta(hours=ingested_hours_ago)
    InboundMessage.objects.filter(pk=row.pk).update(state=state, ingested_at=when)
    return row


def test_ingested_rows_go_after_their_retention_and_nothing_else_does(alice_bal, settings):
    settings.GATEWAY_SPOOL_RETENTION_HOURS = 72
    old = spool_row(SpoolState.INGESTED, ingested_hours_ago=73)
    recent = spool_row(SpoolState.INGESTED, ingested_hours_ago=71)
    waiting = spool_row(SpoolState.RECEIVED)
    failed = spool_row(SpoolState.FAILED)

    assert services.do_purge_ingested_spool(chunk=1) == 1

    assert set(InboundMessage.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk, failed.pk}
    assert old.pk not in set(InboundMessage.objects.values_list("pk", flat=True))
    assert "gateway-spool-purge" in settings.CELERY_BEAT_SCHEDULE


def _blob_file(age_hours: float, *, name: str | None = None) -> str:
    name = name or blobs.new_name()
    path = blobs.path_of(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ciphertext")
    then = time.time() - age_hours * 3600
    os.utime(path, (then, then))
    return name


def test_only_old_blob_files_no_row_names_are_collected(db, settings, tmp_path):
    settings.BLOB_GRACE_HOURS = 24
    settings.MESSAGE_STORE_DIR = tmp_path / "store"  # this test's files only
    orphan_old = _blob_file(25)
    orphan_young = _blob_file(23)  # perhaps a row about to commit: kept
    named_old = _blob_file(48)
    spool = InboundMessage.objects.create(
        envelope_sender=SENDER, recipients=[ALICE], peer_dn="CN=x", size=1, sha256="0" * 64, blob=named_old
    )
    part = blobs.path_of(blobs.new_name()).with_suffix(".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"half")
    os.utime(part, (time.time() - 30 * 3600,) * 2)  # a writer that died a day ago

    assert do_collect_orphan_blobs() == 2

    assert not blobs.path_of(orphan_old).exists() and not part.exists()
    assert blobs.path_of(orphan_young).exists() and blobs.path_of(named_old).exists()
    spool.delete()
    # The same run a day later: the young orphan is old enough now, the unnamed spool blob too.
    assert do_collect_orphan_blobs(now=time.time() + 2 * 3600) == 2
    assert "messaging-collect-orphan-blobs" in settings.CELERY_BEAT_SCHEDULE


def test_every_table_naming_blobs_is_consulted():
    found = {(model, field) for model, field in referencing_fields()}
    assert {
        (Message, "raw_blob"),
        (Attachment, "blob"),
        (DraftAttachment, "blob"),
        (InboundMessage, "blob"),
    } <= found
    assert any(model._meta.app_label == "patients" for model, _ in found)
    assert settings.BLOB_GRACE_HOURS == 24  # the default other work (backups) relies on
