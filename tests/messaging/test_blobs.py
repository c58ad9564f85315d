"""The encrypted blob store's files: durable writes, directories made once, an emptied store recovered."""

from __future__ import annotations

import shutil

import pytest
from django.db import transaction

from apps.messaging.models import StoredBlob
from apps.messaging.store import blobs


def _write(name: str, data: bytes) -> None:
    with blobs.writer(name) as handle:
        handle.write(data)


def test_a_blob_is_written_whole_and_read_back(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 0  # the file kind
    name = blobs.new_name()
    _write(name, b"chiffre")
    with blobs.open_blob(name) as handle:
        assert handle.read() == b"chiffre"
    assert not list((tmp_path / "store").rglob("*.part"))


def test_a_store_emptied_under_a_running_process_is_made_again(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 0
    first, second = blobs.new_name(), blobs.new_name()
    second = first[:6] + second[6:]  # the same directory, already known to this process
    _write(first, b"un")
    shutil.rmtree(tmp_path / "store")

    _write(second, b"deux")

    with blobs.open_blob(second) as handle:
        assert handle.read() == b"deux"


def test_a_failed_write_leaves_nothing(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 0
    name = blobs.new_name()
    with pytest.raises(RuntimeError), blobs.writer(name) as handle:
        handle.write(b"partiel")
        raise RuntimeError("coupure")
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_a_small_blob_is_a_database_row_and_a_large_one_a_file(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    settings.MESSAGE_INLINE_MAX_BYTES = 1000
    small, large = blobs.new_name(), blobs.new_name()
    _write(small, b"s" * 1000)
    with blobs.writer(large) as handle:  # written in pieces: spills to a file past the limit
        for _ in range(3):
            handle.write(b"L" * 400)

    assert StoredBlob.objects.filter(name=small).exists() and not (tmp_path / "store" / small).exists()
    assert (tmp_path / "store" / large).read_bytes() == b"L" * 1200
    assert not StoredBlob.objects.filter(name=large).exists()
    for name, expected in ((small, b"s" * 1000), (large, b"L" * 1200)):
        with blobs.open_blob(name) as handle:
            assert handle.read() == expected
    assert blobs.count_blobs() == 2

    blobs.delete_blob(small)
    blobs.delete_blob(large)
    assert blobs.count_blobs() == 0


@pytest.mark.django_db
def test_an_inline_blob_of_a_failed_write_or_a_rolled_back_transaction_leaves_nothing(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    name = blobs.new_name()
    with pytest.raises(RuntimeError), transaction.atomic():
        _write(name, b"dans la transaction")
        raise RuntimeError("annulée")
    with pytest.raises(RuntimeError), blobs.writer(blobs.new_name()) as handle:
        handle.write(b"partiel")
        raise RuntimeError("coupure")
    assert blobs.count_blobs() == 0
    with pytest.raises(FileNotFoundError):
        blobs.open_blob(name)
