"""The encrypting upload handler: files stream through it into the blob store, never whole in memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from django.core.files.uploadhandler import SkipFile
from django.template.loader import render_to_string

from apps.messaging.compose.selectors import list_drafts
from apps.messaging.compose.services import ATTACHMENT_PART, DraftContent, DraftKeying, do_save_draft
from apps.messaging.compose.uploads import EncryptingUploadHandler, clean_content_type, clean_filename
from apps.messaging.store import storage

CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def _own_blob_store(settings, tmp_path: Path) -> Path:
    settings.MESSAGE_STORE_DIR = tmp_path / "blobs"
    settings.MESSAGE_INLINE_MAX_BYTES = 0  # every blob a file, so the files can be inspected
    return settings.MESSAGE_STORE_DIR


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _handler(keying: DraftKeying, budget: int) -> EncryptingUploadHandler:
    handler = EncryptingUploadHandler(None, keying=keying, budget=budget)  # type: ignore[arg-type]
    return handler


def _start(handler: EncryptingUploadHandler, name: str = "irm.dcm") -> None:
    from django.core.files.uploadhandler import StopFutureHandlers

    with pytest.raises(StopFutureHandlers):  # no other handler ever sees the file
        handler.new_file("attachments", name, "application/dicom", None)


def test_it_encrypts_a_large_upload_with_constant_memory():
    keying = DraftKeying.new()
    handler = _handler(keying, budget=50 * 1024 * 1024)
    chunk = b"\x42" * CHUNK
    _start(handler)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(160):  # 10 MiB
            handler.receive_data_chunk(chunk, index * CHUNK)
        handler.file_complete(160 * CHUNK)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"{peak} bytes held for a 10 MiB upload"
    (part,) = handler.parts
    assert part.stored.size == 160 * CHUNK and part.filename == "irm.dcm"
    decrypted = storage.read_stream(keying.draft_id, ATTACHMENT_PART, part.stored.blob, keying.data_key)
    assert sum(len(piece) for piece in decrypted) == 160 * CHUNK


def test_it_drops_a_file_over_budget_and_removes_its_partial_blob(_own_blob_store):
    handler = _handler(DraftKeying.new(), budget=3 * CHUNK)
    _start(handler, "trop-gros.pdf")
    with pytest.raises(SkipFile):
        for index in range(5):
            handler.receive_data_chunk(b"y" * CHUNK, index * CHUNK)
    assert handler.parts == [] and "« trop-gros.pdf » n'a pas été joint" in handler.errors[0]
    assert _files(_own_blob_store) == []


def test_it_removes_blobs_no_draft_names_when_the_request_fails(_own_blob_store):
    handler = _handler(DraftKeying.new(), budget=10 * CHUNK)
    _start(handler)
    handler.receive_data_chunk(b"z" * 100, 0)
    handler.file_complete(100)
    _start(handler, "coupe.pdf")
    handler.receive_data_chunk(b"z" * 100, 0)  # the client went away mid-file
    assert sorted(p.suffix for p in _files(_own_blob_store)) == ["", ".part"]  # one done, one cut short
    handler.discard_unsaved()
    assert _files(_own_blob_store) == []


def test_it_ignores_other_file_fields():
    handler = _handler(DraftKeying.new(), budget=CHUNK)
    with pytest.raises(SkipFile):
        handler.new_file("avatar", "x.png", "image/png", None)


def test_it_cleans_names_and_types():
    assert clean_filename("a\x00b\r\n.pdf") == "ab.pdf"
    assert clean_filename("") == "piece-jointe"
    assert len(clean_filename("x" * 300 + ".pdf")) == 200 and clean_filename("x" * 300 + ".pdf").endswith(
        ".pdf"
    )
    assert clean_content_type("application/pdf; charset=binary") == "application/pdf"
    assert clean_content_type("text/html<script>") == "application/octet-stream"


@pytest.mark.django_db
def test_it_renders_the_brouillons_list_for_the_folder_view(dr_alice, alice_bal):
    keying = DraftKeying.new()
    draft = do_save_draft(
        alice_bal,
        DraftContent(to=["x@demo.mssante.fr"], subject="<b>Brouillon</b>"),
        acting_user=dr_alice,
        keying=keying,
    )
    html = render_to_string(
        "messaging/_compose_drafts.html",
        {"mailbox": alice_bal, "drafts": list_drafts(alice_bal, author=dr_alice)},
    )
    assert (
        f"?draft={draft.pk}" in html
        and "&lt;b&gt;Brouillon&lt;/b&gt;" in html
        and "x@demo.mssante.fr" in html
    )
    assert "Aucun brouillon" in render_to_string(
        "messaging/_compose_drafts.html", {"mailbox": alice_bal, "drafts": []}
    )
