"""Run a coroutine to completion from a test, whatever runs in the test's thread.

Playwright's sync API keeps an event loop running in the main thread of the xdist worker that ran a
browser test, and `asyncio.run()` refuses to start beside it: the coroutine runs in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 — re-raised in the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-coroutine")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
