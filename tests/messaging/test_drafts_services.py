"""Draft services and selectors: encrypted round trip, attachments, the Brouillons list, "is replying"."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from apps.audit.models import AuditEvent
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.keys import destroy_mailbox_key
from apps.messaging.compose.selectors import list_draft_files, list_drafts, list_replying, reply_content
from apps.messaging.compose.services import (
    DraftContent,
    DraftKeying,
    UploadedPart,
    attachment_budget,
    do_delete_draft,
    do_save_draft,
    do_send_draft,
    open_draft,
    write_attachment,
)
from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import Delivery, DeliveryState, Draft, DraftAttachment, Message
from apps.messaging.store import storage
from tests.messaging.helpers import PDF, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_blob_store(settings, tmp_path: Path) -> Path:
    settings.MESSAGE_STORE_DIR = tmp_path / "blobs"
    settings.MESSAGE_INLINE_MAX_BYTES = 0  # every blob a file, so the files can be inspected
    return settings.MESSAGE_STORE_DIR


def _new(mailbox, user, data: DraftContent, files: list[bytes] = (), **kwargs):  # noqa: ANN001, ANN003, ANN201
    keying = DraftKeying.new()
    parts = [
        UploadedPart(f"piece-{i}.pdf", "application/pdf", write_attachment(keying, [body], limit=None))
        for i, body in enumerate(files)
    ]
    return do_save_draft(mailbox, data, acting_user=user, keying=keying, uploads=parts, **kwargs)


def test_it_round_trips_a_draft_sealed_under_its_own_key(dr_alice, alice_bal):
    data = DraftContent(to=["a@demo.mssante.fr"], subject="Secret médical", body="Texte", patient_ins="x")
    draft = _new(alice_bal, dr_alice, data)
    stored = Draft.objects.get(pk=draft.pk)
    assert b"Secret" not in bytes(stored.content_enc) and b"Secret" not in bytes(stored.data_key_wrap)
    assert open_draft(stored) == data
    assert AuditEvent.objects.filter(action="draft.created", actor_id=dr_alice.pk).count() == 1


def test_it_cannot_be_read_once_the_bal_key_is_destroyed(dr_alice, alice_bal):
    draft = _new(alice_bal, dr_alice, DraftContent(subject="Oublié"))
    destroy_mailbox_key(alice_bal.pk)
    with pytest.raises(DecryptionError):
        open_draft(Draft.objects.get(pk=draft.pk))


def test_it_binds_the_content_to_the_draft_id(dr_alice, alice_bal):
    first = _new(alice_bal, dr_alice, DraftContent(subject="Un"))
    second = _new(alice_bal, dr_alice, DraftContent(subject="Deux"))
    Draft.objects.filter(pk=second.pk).update(content_enc=first.content_enc)  # pasted from another draft
    with pytest.raises(DecryptionError):
        open_draft(Draft.objects.get(pk=second.pk))


def test_it_keeps_files_and_sends_them_then_deletes_the_draft_and_its_blobs(
    dr_alice, alice_bal, cardio_bal, _own_blob_store, eager_tasks, django_capture_on_commit_callbacks
):
    draft = _new(alice_bal, dr_alice, DraftContent(to=[cardio_bal.address], subject="PJ"), files=[PDF])
    assert [f.filename for f in list_draft_files(draft)] == ["piece-0.pdf"]
    draft_blob = DraftAttachment.objects.get().blob
    with django_capture_on_commit_callbacks(execute=True):
        message = do_send_draft(draft, acting_user=dr_alice)
    assert Delivery.objects.get(message=message).state == DeliveryState.DELIVERED
    assert message.attachments.get().sha256 == storage.sha256_of_chunks([PDF])
    assert not Draft.objects.exists() and not DraftAttachment.objects.exists()
    remaining = {p.name for p in _own_blob_store.rglob("*") if p.is_file()}
    # The attachment is stored once, inside the raw message; the draft's file is released: it stays
    # BLOB_GRACE_HOURS for a backup that may be running, then goes with the orphan collector.
    assert remaining == {message.raw_blob.rsplit("/", 1)[1], draft_blob.rsplit("/", 1)[1]}


def test_it_keeps_the_draft_when_the_submission_is_refused(dr_alice, alice_bal):
    draft = _new(alice_bal, dr_alice, DraftContent(to=["x@gmail.com"], subject="Refus"), files=[PDF])
    with pytest.raises(SubmissionRefused) as refused:
        do_send_draft(draft, acting_user=dr_alice)
    assert "x@gmail.com" in refused.value.refusals
    assert Draft.objects.filter(pk=draft.pk).exists() and DraftAttachment.objects.count() == 1
    assert not Message.objects.exists()


def test_it_refuses_an_invalid_ins_at_send_time(dr_alice, alice_bal, cardio_bal):
    draft = _new(alice_bal, dr_alice, DraftContent(to=[cardio_bal.address], patient_ins="12"))
    with pytest.raises(SubmissionRefused, match="matricule INS est invalide"):
        do_send_draft(draft, acting_user=dr_alice)


def test_it_budgets_attachments_below_the_message_limit(dr_alice, alice_bal, settings):
    settings.MESSAGE_MAX_BYTES = 1_000_000
    empty = attachment_budget(None)
    assert 0 < empty < 1_000_000 * 3 // 4  # base64 inflates files by a third, headers and text need room
    draft = _new(alice_bal, dr_alice, DraftContent(), files=[b"z" * 1000])
    assert attachment_budget(draft) == empty - 1000


def test_it_deletes_a_draft_with_an_audit_event(dr_alice, alice_bal, django_capture_on_commit_callbacks):
    draft = _new(alice_bal, dr_alice, DraftContent(), files=[PDF])
    blob = DraftAttachment.objects.get().blob
    with django_capture_on_commit_callbacks(execute=True):
        do_delete_draft(draft, acting_user=dr_alice)
    assert not Draft.objects.exists()
    # The file stays BLOB_GRACE_HOURS (a backup running now may still need it), its grace starting now.
    assert time.time() - storage.blobs.path_of(blob).stat().st_mtime < 60
    assert AuditEvent.objects.filter(action="draft.deleted", actor_id=dr_alice.pk).exists()


def test_it_lists_the_authors_drafts_for_the_brouillons_folder(dr_alice, sec_bob, alice_bal, cardio_bal):
    _new(alice_bal, dr_alice, DraftContent(to=["b@demo.mssante.fr"], subject="Ancien"))
    latest = _new(alice_bal, dr_alice, DraftContent(subject="Récent"), files=[PDF])
    _new(cardio_bal, sec_bob, DraftContent(subject="Autre BAL"))
    rows = list_drafts(alice_bal, author=dr_alice)
    assert [row.subject for row in rows] == ["Récent", "Ancien"]
    assert rows[0].id == latest.pk and rows[0].attachment_count == 1 and rows[1].to == ["b@demo.mssante.fr"]
    assert list_drafts(alice_bal, author=sec_bob) == []


def test_it_names_who_is_replying_in_a_shared_bal(dr_alice, sec_bob, alice_bal, cardio_bal):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Question")
    copy = message.copies.get(mailbox=cardio_bal)
    data = reply_content(copy, reply_all=False)
    assert data.to == [alice_bal.address] and data.subject == "Re: Question"
    _new(cardio_bal, sec_bob, data, reply_to_copy=copy)
    assert list_replying(copy) == ["Bob Leroy"]
    assert list_replying(copy, exclude_user=sec_bob) == []
