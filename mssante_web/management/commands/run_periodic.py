"""`manage.py run_periodic [NAME ...]`: run beat's periodic jobs once, in this process.

Under `make run` without Redis there is no worker and no beat; this runs the same tasks Celery beat would
(CELERY_BEAT_SCHEDULE), synchronously, so the demo can seal the journal or refresh a list on demand. It is
also handy in production to run one job now without waiting for its schedule (`--list` shows the names).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mssante_web.celery import app as celery_app


class Command(BaseCommand):
    help = "Exécute une fois, ici, les tâches périodiques de Celery beat (toutes, ou celles nommées)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Entrées de CELERY_BEAT_SCHEDULE (toutes si aucune).")
        parser.add_argument(
            "--list", action="store_true", help="Lister les tâches périodiques et leur rythme."
        )

    def handle(self, *args: Any, names: list[str], list: bool = False, **options: Any) -> None:
        schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
        if list:
            for name, entry in schedule.items():
                self.stdout.write(f"{name:<32} {entry['task']}  (rythme : {entry['schedule']})")
            return
        unknown = [name for name in names if name not in schedule]
        if unknown:
            raise CommandError(f"Tâche(s) périodique(s) inconnue(s) : {', '.join(unknown)} (voir --list).")
        celery_app.loader.import_default_modules()
        for name in names or schedule:
            self._run(name, schedule[name])

    def _run(self, name: str, entry: dict[str, Any]) -> None:
        task = celery_app.tasks.get(entry["task"])
        if task is None:
            raise CommandError(f"{name} : la tâche {entry['task']} n'est pas enregistrée.")
        started = time.monotonic()
        # apply() runs the task here and now, whatever CELERY_TASK_ALWAYS_EAGER says; errors propagate.
        result = task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), throw=True)
        elapsed = time.monotonic() - started
        self.stdout.write(f"{name} : terminé en {elapsed:.1f} s (résultat : {result.result!r})")
