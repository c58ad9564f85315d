"""`manage.py seed_demo`: the demo of `make run` -- personas, then each app's own demo data. Idempotent.

Each app that has demo data provides `apps/<app>/demo.py` with `seed(stdout)`; this command calls them in
dependency order (annuaire and trust before BALs, BALs before messages), so a later issue adds its demo by
writing that one function, without touching this command.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mssante_web.management.demo_personas import DEMO_PASSWORD, PERSONAS, seed_personas

# Apps seeded first, in this order; any other app with a demo module follows, in INSTALLED_APPS order.
SEED_ORDER = [
    "apps.accounts",
    "apps.annuaire",
    "apps.trust",
    "apps.mailboxes",
    "apps.messaging",
    "apps.patients",
]


def demo_seeders() -> list[tuple[str, Callable[..., Any]]]:
    """(app name, seed function) of every installed app that has a `demo` module with `seed`."""
    names = [config.name for config in apps.get_app_configs() if config.name.startswith("apps.")]
    ordered = [name for name in SEED_ORDER if name in names] + [
        name for name in names if name not in SEED_ORDER
    ]
    seeders = []
    for name in ordered:
        if importlib.util.find_spec(f"{name}.demo") is None:
            continue
        module = importlib.import_module(f"{name}.demo")
        seeders.append((name, module.seed))
    return seeders


class Command(BaseCommand):
    help = "Crée (ou remet à jour) les données de démonstration : personas, puis les données de chaque app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Autoriser hors mode démonstration/test.")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if not (settings.DEV or settings.TESTING or force):
            raise CommandError(
                "seed_demo crée des comptes au mot de passe public : refusé hors de `make run` "
                "(MSSANTE_DEV=1). Utilisez --force si c'est vraiment voulu."
            )
        self.stdout.write(self.style.MIGRATE_HEADING("Personas de démonstration"))
        seed_personas(self.stdout)
        for name, seed in demo_seeders():
            self.stdout.write(self.style.MIGRATE_HEADING(f"Démonstration : {name}"))
            seed(self.stdout)
        if options.get("verbosity", 1) >= 1:
            self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Mot de passe commun des comptes de démonstration : {DEMO_PASSWORD}")
        )
        for one in PERSONAS:
            factor = "code TOTP : make totp EMAIL=" + one.email if one.needs_totp else "pas de second facteur"
            self.stdout.write(f"  {one.email:<34} {one.role} ({factor})")
