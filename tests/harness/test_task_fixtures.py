"""Services that enqueue on commit stay testable without a worker: queued for real, or run eagerly."""

from __future__ import annotations

import time

from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.audit.tasks import seal_events


def _enqueue_on_commit() -> None:
    # What a service does: the task is sent only once the transaction has committed.
    transaction.on_commit(lambda: seal_events.delay())


def test_it_never_sends_on_commit_tasks_from_a_rolled_back_test_transaction(db, celery_queue):
    with transaction.atomic():
        record_event("harness.probe")
        _enqueue_on_commit()
    assert celery_queue.pending() == []


def test_it_publishes_to_this_test_workers_own_queue_without_hanging(
    db, celery_queue, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue_on_commit()

    assert time.monotonic() - started < 2
    [queued] = celery_queue.pending()
    assert queued.name == "apps.audit.tasks.seal_events" and queued.args == [] and queued.kwargs == {}
    assert celery_queue.name.startswith("test-")


def test_it_runs_tasks_in_process_with_eager_tasks(
    db, celery_queue, eager_tasks, django_capture_on_commit_callbacks
):
    event = record_event("harness.probe")

    with django_capture_on_commit_callbacks(execute=True):
        _enqueue_on_commit()

    event.refresh_from_db()
    assert event.seal is not None
    assert celery_queue.pending() == []


def test_it_restores_the_broker_mode_after_eager_tasks(db, celery_queue):
    from mssante_web.celery import app

    assert app.conf.task_always_eager is False
    seal_events.delay()
    assert [task.name for task in celery_queue.pending()] == ["apps.audit.tasks.seal_events"]
    assert not AuditEvent.objects.filter(seal__isnull=False).exists()
