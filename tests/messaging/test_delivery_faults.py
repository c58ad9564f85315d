"""Faults in the delivery pipeline lose nothing and duplicate nothing.

- A worker subprocess killed with SIGKILL in the middle of a batch: after a restart and the sweeper, every
  delivery is delivered exactly once (one copy each, usage counted once, one journal event each).
- Redis stopped while submitting: the submission still commits and the request does not fail; once Redis is
  back, the sweeper re-queues and a worker delivers.

To land the kill in the middle of the batch deterministically, the worker imports this module (`-I`) with
SLOW_DEPOSIT_SECONDS set: each deposit then sleeps inside its transaction, as a slow disk or a locked row
would make it, so the batch takes seconds and the kill finds deposits in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox
from apps.messaging.delivery import batch as services_batch
from apps.messaging.delivery import deliver as services_delivery
from apps.messaging.delivery.deliver import do_sweep_deliveries
from apps.messaging.delivery.submit import enqueue_deliveries
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from mssante_web.celery import app as celery_app
from tests.messaging.helpers import send
from tests.plugins.throwaway import wait_until

pytestmark = pytest.mark.slow

if os.environ.get("SLOW_DEPOSIT_SECONDS"):  # only inside the worker subprocess started below
    _deposit = services_delivery.do_deposit
    _deposit_many = services_batch.do_deposit_many
    _pause = float(os.environ["SLOW_DEPOSIT_SECONDS"])

    def _slow_deposit(*args: Any, **kwargs: Any) -> Any:
        time.sleep(_pause)
        return _deposit(*args, **kwargs)

    def _slow_deposit_many(*args: Any, **kwargs: Any) -> Any:
        time.sleep(_pause)
        return _deposit_many(*args, **kwargs)

    services_delivery.do_deposit = _slow_deposit  # type: ignore[assignment]
    services_batch.do_deposit_many = _slow_deposit_many  # type: ignore[assignment]


def _delivered(message_ids: list[Any]) -> int:
    return Delivery.objects.filter(message_id__in=message_ids, state=DeliveryState.DELIVERED).count()


def _sweep_as_if_later() -> list[int]:
    """The periodic sweeper, run as it would run once DELIVERY_STUCK_AFTER has passed."""
    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    ids = do_sweep_deliveries(now=later)
    enqueue_deliveries(ids)
    return ids


def _assert_exactly_once(message_ids: list[Any], mailboxes: list[Mailbox]) -> None:
    deliveries = Delivery.objects.filter(message_id__in=message_ids)
    copies = MessageCopy.objects.filter(message_id__in=message_ids, is_outgoing=False)
    assert copies.count() == deliveries.count() == deliveries.filter(state=DeliveryState.DELIVERED).count()
    assert set(copies.values_list("delivery_id", flat=True)) == set(deliveries.values_list("id", flat=True))
    delivered_events = AuditEvent.objects.filter(
        action="message.delivered", target_id__in=[str(pk) for pk in message_ids]
    )
    assert delivered_events.count() == deliveries.count()
    for mailbox in mailboxes:  # the quota counter saw each message once
        held = Message.objects.filter(copies__mailbox=mailbox, pk__in=message_ids).aggregate(s=Sum("size"))
        assert Mailbox.objects.get(pk=mailbox.pk).used_bytes == held["s"]


def test_it_loses_and_duplicates_nothing_when_a_worker_is_killed_mid_batch(
    celery_queue, celery_worker_factory, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    recipients = [cardio_bal.address, pharmacy_bal.address]
    messages = [
        send(alice_bal, dr_alice, recipients, deliver=False, subject=f"Résultat {n}", text="…").pk
        for n in range(12)
    ]
    total = 2 * len(messages)
    # One wake-up for the lot: the batch depositor, woken once, claims whatever is queued.
    assert [t.name for t in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"]
    worker = celery_worker_factory(
        concurrency=2,
        include=["tests.messaging.test_delivery_faults"],
        extra_env={
            "SLOW_DEPOSIT_SECONDS": "0.4",
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "DELIVERY_BATCH_SIZE": "2",  # many small batches, so the kill lands between two of them
        },
    )

    wait_until(lambda: _delivered(messages) >= 4, timeout=60, what="a few deliveries done")
    worker.kill(signal.SIGKILL)
    delivered_at_kill = _delivered(messages)
    assert delivered_at_kill < total  # the kill landed in the middle of the batch
    assert MessageCopy.objects.filter(message_id__in=messages, is_outgoing=False).count() == delivered_at_kill

    # Recovery: the sweeper re-queues what the dead worker held (tasks already in Redis are queued again
    # too: duplicates that must not deposit twice), and Redis redelivers the unacknowledged tasks.
    requeued = _sweep_as_if_later()
    assert requeued
    worker.start()
    wait_until(lambda: _delivered(messages) == total, timeout=120, what="every delivery done after restart")
    time.sleep(4)  # the redelivered (visibility timeout) and duplicated tasks run too: they must be no-ops

    _assert_exactly_once(messages, [cardio_bal, pharmacy_bal])


@pytest.fixture
def broker_on(celery_queue) -> Iterator[Any]:
    """Point this process's Celery app at another Redis (`broker_on(url)`); restored at the end."""
    previous = celery_app.conf.broker_url

    def switch(url: str) -> None:
        celery_app.conf.broker_url = url
        # The connection and producer pools are built once from the URL: drop this app's references so the
        # next publish (and the worker pings) use the new broker. Nothing is closed: kombu's global pools
        # are keyed by URL, and closing one would break every later test of this process that publishes.
        celery_app._pool = None  # noqa: SLF001
        celery_app.amqp._producer_pool = None  # noqa: SLF001

    yield switch
    switch(previous)


def test_it_commits_the_submission_while_redis_is_down_and_delivers_once_it_is_back(
    throwaway_redis, broker_on, celery_worker_factory, alice_bal, cardio_bal, dr_alice, caplog
):
    # Same Redis database number as the shared one: the worker subprocess derives it the same way.
    url = throwaway_redis.url.rsplit("/", 1)[0] + "/" + settings.REDIS_URL.rsplit("/", 1)[1]
    broker_on(url)
    celery_worker_factory(extra_env={"REDIS_URL": throwaway_redis.url})
    throwaway_redis.stop()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="apps.messaging.delivery.submit"):
        message = send(
            alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Hors ligne", text="…"
        )
    blocked = time.monotonic() - started

    delivery = Delivery.objects.get(message=message)  # committed: the request did not fail
    assert delivery.state == DeliveryState.QUEUED
    assert "left to the sweeper" in caplog.text
    assert blocked < 10, f"the submission was held {blocked:.1f} s by the broker outage"

    throwaway_redis.start()  # empty: the task that could not be published is not there
    assert _sweep_as_if_later() == [delivery.pk]
    wait_until(
        lambda: _delivered([message.pk]) == 1, timeout=90, what="delivered once Redis is back and swept"
    )
    _assert_exactly_once([message.pk], [cardio_bal])
