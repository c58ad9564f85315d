"""`manage.py demo_totp EMAIL`: the current TOTP code of a demo persona, to log in during the demo."""

from __future__ import annotations

import time
from typing import Any

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mssante_web.management.demo_personas import PERSONAS

MIN_VALIDITY_SECONDS = 8


class Command(BaseCommand):
    help = "Affiche le code TOTP courant d'un compte de démonstration (mode démonstration uniquement)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Adresse de connexion d'une persona de démonstration.")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        if not (settings.DEV or settings.TESTING):
            raise CommandError("demo_totp n'existe qu'en mode démonstration (make run).")
        email = email.strip().lower()
        known = {one.email for one in PERSONAS if one.needs_totp}
        if email not in known:
            raise CommandError(
                f"{email} n'est pas un compte de démonstration à second facteur : {', '.join(sorted(known))}"
            )
        totp = Authenticator.objects.filter(user__email=email, type=Authenticator.Type.TOTP).first()
        if totp is None:
            raise CommandError(f"{email} n'a pas de TOTP : lancez d'abord `manage.py seed_demo`.")
        secret = decrypt(totp.data["secret"])
        period = mfa_settings.TOTP_PERIOD
        if period - int(time.time()) % period < MIN_VALIDITY_SECONDS:
            # A code about to expire would fail while being typed: wait for the next one.
            time.sleep(period - time.time() % period + 0.1)
        now = int(time.time())
        self.stdout.write(format_hotp_value(hotp_value(secret, now // period)))
        self.stderr.write(f"(valable encore {period - now % period} s ; un code ne sert qu'une fois)")
