"""The encrypted blob store's files: durable writes, directories made once, an emptied store recovered."""

from __future__ import annotations

import shutil

from apps.messaging import blobs


def _write(name: str, data: bytes) -> None:
    with blobs.writer(name) as handle:
        handle.write(data)


def test_a_blob_is_written_whole_and_read_back(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    name = blobs.new_name()
    _write(name, b"chiffre")
    with blobs.open_blob(name) as handle:
        assert handle.read() == b"chiffre"
    assert not list((tmp_path / "store").rglob("*.part"))


def test_a_store_emptied_under_a_running_process_is_made_again(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    first, second = blobs.new_name(), blobs.new_name()
    second = first[:6] + second[6:]  # the same directory, already known to this process
    _write(first, b"un")
    shutil.rmtree(tmp_path / "store")

    _write(second, b"deux")

    with blobs.open_blob(second) as handle:
        assert handle.read() == b"deux"


def test_a_failed_write_leaves_nothing(settings, tmp_path):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    name = blobs.new_name()
    try:
        with blobs.writer(name) as handle:
            handle.write(b"partiel")
            raise RuntimeError("coupure")
    except RuntimeError:
        pass
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
