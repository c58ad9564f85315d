"""asyncio servers and their threads: serve from a thread of its own (tests and embedded use), and run
database work in the server's thread pool with a checked connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import close_old_connections

T = TypeVar("T")


@contextmanager
def serving_in_thread(
    loop: asyncio.AbstractEventLoop,
    start: Callable[[], Awaitable[object]],
    stop: Callable[[], Awaitable[object]],
    *,
    name: str,
    join_timeout: float = 30,
) -> Iterator[asyncio.AbstractEventLoop]:
    """`start()` runs in the loop's thread before the caller goes on (30 s at most), `stop()` at the end."""
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(stop())
        loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    started.wait(timeout=30)
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=join_timeout)


def in_fresh_connection(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a worker thread of an asyncio server with Django's connection checked before and after
    (a connection that died while the thread was idle is replaced, and none is left open across calls)."""
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()
