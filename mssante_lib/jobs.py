"""Enqueue a Celery task by its registered name, now or once the caller's transaction commits.

Services enqueue their follow-up work on commit (docs/design.md §2), and tasks call services: importing the
task object from a service would make every app's `services` and `tasks` modules import each other. A
service names the task instead; `tasks.py` stays the only module that imports the services it runs. The
name is checked against Celery's registry (an unknown name raises at once, inside the caller's transaction,
never a silently lost job), and `tests/test_jobs.py` checks every name used in the code is a registered task.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


class UnknownTask(LookupError):
    pass


def task_named(name: str) -> Any:
    from celery import current_app

    if name not in current_app.tasks:
        # A web process registers a task when its module is first imported; the worker imports them all
        # at start. Ask for the same discovery here (once: later calls find the name).
        current_app.loader.import_default_modules()
    try:
        return current_app.tasks[name]
    except KeyError:
        raise UnknownTask(f"no Celery task is registered under {name!r}") from None


def enqueue(name: str, *args: Any, task_kwargs: dict[str, Any] | None = None, **options: Any) -> None:
    """`apply_async` of the named task: options are Celery's (countdown, retry…); runs eagerly where
    Celery is eager (`make run` without Redis), like `.delay()`."""
    task_named(name).apply_async(args, task_kwargs or {}, **options)


def enqueue_on_commit(
    name: str, *args: Any, task_kwargs: dict[str, Any] | None = None, **options: Any
) -> None:
    task_named(name)  # a wrong name fails here, before the caller's transaction commits
    transaction.on_commit(lambda: enqueue(name, *args, task_kwargs=task_kwargs, **options))
