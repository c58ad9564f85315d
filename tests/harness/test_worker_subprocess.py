"""A task sent through Redis and run by a real worker, which reads what the test committed.

The audit sealer (`apps.audit.tasks.seal_events`) is the real task used: the test commits unsealed journal
events, the worker seals them in its own database connection, and the test reads the seals back.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.audit.tasks import seal_events
from tests.harness.harness_tasks import slow_first_attempt
from tests.plugins.throwaway import wait_until

pytestmark = pytest.mark.slow


def _commit_unsealed_events(count: int) -> list[int]:
    # transactional_db: every create commits at once, so another process can see the rows.
    return [record_event("harness.probe", details={"n": n}).pk for n in range(count)]


def _all_sealed(ids: list[int]) -> bool:
    return AuditEvent.objects.filter(pk__in=ids, seal__isnull=False).count() == len(ids)


def test_it_runs_a_task_in_a_worker_subprocess_that_reads_committed_data(celery_worker_process):
    ids = _commit_unsealed_events(3)
    assert not AuditEvent.objects.filter(pk__in=ids, seal__isnull=False).exists()

    seal_events.delay()

    wait_until(lambda: _all_sealed(ids), timeout=20, what="events sealed by the worker subprocess")
    sealed = list(AuditEvent.objects.filter(pk__in=ids).order_by("seal_seq"))
    assert [event.pk for event in sealed] == ids
    assert all(event.sealed_at is not None and len(event.seal) == 64 for event in sealed)


def test_it_runs_a_task_in_a_worker_thread_that_reads_committed_data(celery_worker_thread):
    ids = _commit_unsealed_events(2)

    seal_events.delay()

    wait_until(lambda: _all_sealed(ids), timeout=20, what="events sealed by the worker thread")
    assert AuditEvent.objects.filter(pk__in=ids, seal_seq__isnull=False).count() == 2


def test_it_leaves_the_task_queued_until_a_worker_is_there(
    transactional_db, celery_queue, celery_worker_factory
):
    ids = _commit_unsealed_events(1)

    seal_events.delay()

    assert [task.name for task in celery_queue.pending()] == ["apps.audit.tasks.seal_events"]
    assert not _all_sealed(ids)
    celery_worker_factory()
    wait_until(lambda: _all_sealed(ids), timeout=20, what="queued task run once a worker started")
    assert celery_queue.pending() == []


def test_it_redelivers_an_acks_late_task_after_the_worker_is_killed_mid_task(
    celery_worker_factory, tmp_path: Path
):
    visibility_timeout = 3
    worker = celery_worker_factory(
        include=["tests.harness.harness_tasks"],
        concurrency=1,
        extra_env={"CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout)},
    )
    journal = tmp_path / "journal.txt"

    slow_first_attempt.delay(str(journal))
    wait_until(journal.exists, timeout=20, what="task started in the worker")
    killed_at = time.monotonic()
    worker.kill(signal.SIGKILL)
    assert not worker.ping(timeout=0.5)
    assert journal.read_text().count("start") == 1

    # The message stays "unacked" in Redis; once its visibility timeout has passed, the restarted worker
    # puts it back in the queue and runs it again.
    time.sleep(max(0.0, visibility_timeout + 1 - (time.monotonic() - killed_at)))
    worker.start()
    wait_until(lambda: "done" in journal.read_text(), timeout=30, what="task redelivered after restart")
    lines = journal.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start", "start", "done"]


def test_it_fails_clearly_with_the_workers_output_when_it_cannot_start(celery_worker_factory):
    with pytest.raises(RuntimeError, match="exited early") as failure:
        celery_worker_factory(include=["tests.harness.no_such_task_module"])
    assert "no_such_task_module" in str(failure.value)
