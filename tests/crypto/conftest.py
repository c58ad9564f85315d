"""Fixtures of the crypto tests: keys, and a master key ring re-read around each test that changes it."""

from __future__ import annotations

import os

import pytest

from apps.crypto import keys


@pytest.fixture
def data_key() -> bytes:
    return keys.new_data_key()


@pytest.fixture
def fresh_ring(monkeypatch):
    """Clear the cached ring before and after: tests set MASTER_KEYS & co. through settings or env."""
    for name in ("MASTER_KEYS", "MASTER_KEYS_FILE", "MASTER_KEY", "MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    keys.reload_master_key_ring()
    yield keys.master_key_ring
    keys.reload_master_key_ring()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)
