"""A per-process snapshot of some database state, reloaded when a version key in the Django cache changes.

The liste blanche (`policies`) and the revoked serials (`revocation`) are read at every SMTP command and
change a few times a day: each process keeps what it loaded, and looks at the version key at most once every
`check_seconds` (a Redis round trip on every check would cost more than the check itself). Whoever changes
the state calls `bump()` on commit, which every process sees at its next look. An evicted or missing key gets
a new version, so every process reloads once rather than serving a stale snapshot; with the cache down, each
call reads the database.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class SnapshotState(Generic[T]):
    version: str
    checked_at: float  # time.monotonic() of the last look at the version key
    value: T


class VersionedSnapshot(Generic[T]):
    def __init__(
        self, *, version_key: str, load: Callable[[], T], what: str, check_seconds: float = 1.0
    ) -> None:
        self.version_key = version_key
        self.load = load
        self.what = what  # for the logs: "liste blanche", "CRL index"
        self.check_seconds = check_seconds
        self.state: SnapshotState[T] | None = None
        self._lock = threading.Lock()

    def bump(self) -> None:
        """Tell every process to reload; call it on commit of any change to the state."""
        try:
            cache.set(self.version_key, uuid.uuid4().hex, None)
        except Exception:  # the cache being down must not fail a committed change
            logger.exception("trust: could not publish the new %s version", self.what)
        with self._lock:
            self.state = None

    def _current_version(self) -> str | None:
        try:
            version = cache.get(self.version_key)
            if version is None:
                # Evicted or fresh cache: publish a new version so that every process reloads once.
                cache.add(self.version_key, uuid.uuid4().hex, None)
                version = cache.get(self.version_key)
            return version
        except Exception:
            logger.exception("trust: cache unavailable, reading the %s from the database", self.what)
            return None

    def get(self) -> T:
        state, now = self.state, time.monotonic()
        if state is not None and now - state.checked_at < self.check_seconds:
            return state.value
        version = self._current_version()
        if version is not None and state is not None and state.version == version:
            with self._lock:
                self.state = SnapshotState(version, now, state.value)
            return state.value
        loaded = self.load()
        if version is not None:
            with self._lock:
                self.state = SnapshotState(version, now, loaded)
        return loaded
