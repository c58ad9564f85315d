"""Test-only Celery tasks for the harness tests (a worker subprocess imports them with `-I`).

They record what happened in a file given by the test, so the test observes the worker from the outside
without any shared memory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.harness.slow_first_attempt", acks_late=True, ignore_result=True)
def slow_first_attempt(journal: str, stall_seconds: float = 120.0) -> None:
    """Append "start <pid>"; on the first delivery stall (so the test can kill the worker mid-task)."""
    path = Path(journal)
    first_attempt = not path.exists()
    with path.open("a") as out:
        out.write(f"start {os.getpid()}\n")
    if first_attempt:
        time.sleep(stall_seconds)
    with path.open("a") as out:
        out.write(f"done {os.getpid()}\n")
