"""The per-process versioned snapshot shared by the liste blanche and the CRL index (apps.trust.snapshot)."""

from __future__ import annotations

import socket
import uuid

from django.core.cache import cache
from django.test import override_settings

from apps.trust.snapshot import SnapshotState, VersionedSnapshot


def _counting_snapshot(check_seconds: float = 0.0) -> tuple[VersionedSnapshot[int], list[int]]:
    loads: list[int] = []

    def load() -> int:
        loads.append(len(loads) + 1)
        return loads[-1]

    key = f"test:snapshot:{uuid.uuid4().hex}"
    return VersionedSnapshot(version_key=key, load=load, what="test", check_seconds=check_seconds), loads


def test_it_loads_once_and_reloads_only_when_the_version_changes():
    snapshot, loads = _counting_snapshot()
    assert snapshot.get() == 1
    assert snapshot.get() == 1  # same version: the snapshot is served
    cache.set(snapshot.version_key, "set-by-another-process", None)
    assert snapshot.get() == 2
    cache.delete(snapshot.version_key)  # evicted key: a new version, one reload
    assert snapshot.get() == 3
    assert snapshot.get() == 3
    assert loads == [1, 2, 3]


def test_a_bump_reloads_this_process_and_the_others():
    snapshot, _loads = _counting_snapshot()
    other, _other_loads = _counting_snapshot()
    other.version_key = snapshot.version_key  # a second process watching the same key
    assert (snapshot.get(), other.get()) == (1, 1)
    snapshot.bump()
    assert snapshot.state is None
    assert (snapshot.get(), other.get()) == (2, 2)


def test_it_looks_at_the_version_at_most_every_check_seconds():
    snapshot, _loads = _counting_snapshot(check_seconds=60.0)
    assert snapshot.get() == 1
    cache.set(snapshot.version_key, "set-by-another-process", None)
    assert snapshot.get() == 1  # within the period: not even a look at the key
    state = snapshot.state
    assert state is not None
    snapshot.state = SnapshotState(state.version, state.checked_at - 61, state.value)
    assert snapshot.get() == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_the_cache_every_call_reads_the_database():
    snapshot, loads = _counting_snapshot()
    down = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
    }
    with override_settings(CACHES={"default": down}):
        assert snapshot.get() == 1
        assert snapshot.get() == 2
        snapshot.bump()  # must not raise: the cache being down does not fail a committed change
    assert loads == [1, 2]
