"""Entry points of the OS processes spawned by test_concurrency.py (importable: no Django at import)."""

from __future__ import annotations

import os
import random
import time
from typing import Any


def _setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def write_events(env: dict[str, str], worker: int, count: int) -> None:
    """Write `count` events, one transaction each, sometimes lingering before COMMIT (late commits)."""
    _setup(env)
    from django.db import connections, transaction

    from apps.audit.services import record_event

    rng = random.Random(worker)
    for index in range(count):
        with transaction.atomic():
            record_event("test.concurrent", actor_label=f"writer{worker}", target_id=f"{worker}-{index}")
            if rng.random() < 0.2:
                time.sleep(rng.random() / 200)
    connections.close_all()


def seal_until(env: dict[str, str], done: Any, sealed_total: Any) -> None:
    """Run the sealer in a loop while the writers write; add what this process sealed to `sealed_total`."""
    _setup(env)
    from django.db import connections

    from apps.audit.services import do_seal_pending

    sealed = 0
    while not done.is_set():
        sealed += do_seal_pending(batch_size=50)
        time.sleep(0.005)
    with sealed_total.get_lock():
        sealed_total.value += sealed
    connections.close_all()
