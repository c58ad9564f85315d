"""`manage.py backup_inspect`: internal to `backup_verify`, run against a restored database; prints JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backup.inspect import inspect


class Command(BaseCommand):
    help = "(interne) Contrôles d'une base restaurée, lancés par backup_verify ; sortie JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=3, help="messages lus par BAL (0 : tous)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(inspect(options["sample"] or None)))
