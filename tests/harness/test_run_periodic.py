"""`run_periodic` runs beat's jobs in-process: the periodic work of `make run` without Redis."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.services import record_event


def test_it_lists_the_beat_schedule(settings):
    out = StringIO()
    call_command("run_periodic", "--list", stdout=out)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert name in out.getvalue() and entry["task"] in out.getvalue()


def test_it_runs_the_named_job_here_and_now_without_a_worker(db, celery_queue):
    event = record_event("harness.probe")
    out = StringIO()

    call_command("run_periodic", "audit-seal", stdout=out)

    event.refresh_from_db()
    assert event.seal is not None and event.seal_seq is not None
    assert "audit-seal : terminé" in out.getvalue()
    assert celery_queue.pending() == []  # nothing went through the broker


def test_it_refuses_an_unknown_job(db):
    with pytest.raises(CommandError, match="inconnue"):
        call_command("run_periodic", "no-such-job", stdout=StringIO())
