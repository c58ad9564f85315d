"""Waking the batch depositor: one broker publish per batch of local deliveries, not one per delivery.

A submission commits its queued deliveries, then calls `wake()`: `SET <flag> NX` in Redis, and only the
caller that set the flag publishes a `deposit_queued` task. The task clears the flag *before* each claim
(`clear()`), so a submitter that found the flag already set knows a task will claim after its commit: the
flag was set before that task's next clear, and the claim follows the clear. Under load, one publish and
one task run serve every delivery that committed meanwhile; idle, each submission publishes once.

The flag expires (`WAKE_TTL`): a published task that is lost before it clears the flag only delays the
next wake-up by that long, and the sweeper re-queues anything left behind in any case. Without Redis
(`make run` on the embedded default, tasks eager) every wake runs the task in-process.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from django.conf import settings

from apps.messaging.constants import DEPOSIT_TASK
from mssante_lib.jobs import enqueue

logger = logging.getLogger("apps.messaging.delivery.submit")
WAKE_TTL_SECONDS = 10


def _flag() -> str:
    return f"mssante:{settings.QUEUE_PREFIX}deposit-wake"


@lru_cache(maxsize=4)
def _client_for(url: str) -> Any:
    import redis

    # Short timeouts: a broker outage must not hold a web request (the sweeper catches up).
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def _client() -> Any | None:
    from celery import current_app as app

    url = str(app.conf.broker_url or "")
    if app.conf.task_always_eager or not url.startswith(("redis://", "rediss://")):
        return None
    return _client_for(url)


def wake() -> None:
    """Make sure a batch depositor runs after the caller's (committed) deliveries; never raises."""
    try:
        client = _client()
        if client is not None and not client.set(_flag(), b"1", nx=True, ex=WAKE_TTL_SECONDS):
            return  # a task is published and has not claimed yet: it will see our deliveries
        enqueue(DEPOSIT_TASK)
    except Exception:  # noqa: BLE001 — redis-py and kombu raise many kinds when Redis is down
        logger.warning("local deliveries: broker unavailable, left to the sweeper", exc_info=True)
        _forget_flag()


def clear() -> None:
    """Called by the depositor before each claim (see the module docstring)."""
    client = _client()
    if client is not None:
        client.delete(_flag())


def hold() -> None:
    """Called by a depositor that will claim again (it found work): submitters need not publish meanwhile.

    Safe for the same reason as `wake`: the depositor clears the flag before its next claim, and stops
    only after a claim that followed a clear found nothing.
    """
    client = _client()
    if client is not None:
        client.set(_flag(), b"1", ex=WAKE_TTL_SECONDS)


def _forget_flag() -> None:
    try:
        clear()
    except Exception:  # noqa: BLE001 — best effort: the flag expires on its own
        logger.debug("wake flag not cleared", exc_info=True)
