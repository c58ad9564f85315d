"""Progress lines for the terminal: at most one every `every` seconds per stage, plus the final one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

Say = Callable[[str], None]


def human(size: float) -> str:
    for unit in ("o", "Kio", "Mio", "Gio"):
        if size < 1024 or unit == "Gio":
            return f"{size:.0f} {unit}" if unit == "o" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} Gio"


class Throttled:
    def __init__(self, say: Say, every: float = 2.0) -> None:
        self.say, self.every = say, every
        self.started = self.last = time.monotonic()

    def __call__(self, line: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            self.say(f"{line} ({now - self.started:.0f} s)")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class CountingReader:
    """Wraps pg_dump's output: counts the bytes read through it and reports them."""

    def __init__(self, stream: IO[bytes], report: Callable[[int], None]) -> None:
        self.stream, self.report, self.count = stream, report, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        self.report(self.count)
        return data
