"""Blob files whose rows are deleted wait BLOB_GRACE_HOURS (a backup may still need them); rows go at once."""

from __future__ import annotations

import os
import time

from apps.messaging.models import StoredBlob
from apps.messaging.store import blobs


def _write(name: str, data: bytes) -> None:
    with blobs.writer(name) as handle:
        handle.write(data)


def test_a_released_file_stays_with_its_grace_starting_now_and_a_released_row_goes(settings, tmp_path, db):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 10
    big, small = blobs.new_name(), blobs.new_name()
    _write(big, b"x" * 100)
    _write(small, b"y")
    old = time.time() - 3 * 86400
    os.utime(blobs.path_of(big), (old, old))  # written days ago, deleted only now

    blobs.release_blob(big)
    blobs.release_blob(small)

    assert blobs.path_of(big).read_bytes() == b"x" * 100
    assert time.time() - blobs.path_of(big).stat().st_mtime < 60  # the collector's grace counts from now
    assert not StoredBlob.objects.filter(name=small).exists()  # a row: the dump's snapshot already has it


def test_an_undone_write_is_still_deleted_at_once(settings, tmp_path, db):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 0
    name = blobs.new_name()
    _write(name, b"z" * 100)
    blobs.delete_blob(name)  # no committed row ever named it
    assert not blobs.path_of(name).exists()
