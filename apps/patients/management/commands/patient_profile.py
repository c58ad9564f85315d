"""`manage.py patient_profile open|activate|close|show`: the operator's side of MSS-C profiles.

Thin: parses arguments, calls the services (journaled as the platform), prints the result in French.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User, UserKind
from apps.annuaire.identifiers import IdentifierError, check_ins
from apps.patients.models import PatientProfile
from apps.patients.services import do_activate_profile, do_close_profile, do_open_profile


class Command(BaseCommand):
    help = "Ouvre, active, ferme ou affiche la messagerie de santé (MSS-C) d'un patient."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["open", "activate", "close", "show"])
        parser.add_argument("--email", help="Compte patient (adresse de connexion).")
        parser.add_argument("--ins", help="Matricule INS (15 caractères, clé comprise).")
        parser.add_argument("--birth-date", help="Date de naissance AAAA-MM-JJ (facultatif).")
        parser.add_argument("--activate", action="store_true", help="Avec open : ouvrir déjà activée.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "open":
                profile = self._open(options)
            else:
                profile = self._profile(options)
                if action == "activate":
                    profile = do_activate_profile(profile, acting_user=None)
                elif action == "close":
                    profile = do_close_profile(profile, acting_user=None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"{profile.address} — {profile.user.email} — état : {profile.get_state_display().lower()}"
            f"{' (mineur)' if profile.is_minor() else ''}"
        )

    def _open(self, options: dict[str, Any]) -> PatientProfile:
        email, ins = options.get("email"), options.get("ins")
        if not email or not ins:
            raise CommandError("open demande --email et --ins.")
        user = User.objects.filter(email=email.lower()).first()
        if user is None or user.kind != UserKind.PATIENT:
            raise CommandError(f"Aucun compte patient {email}.")
        birth = options.get("birth_date")
        try:
            birth_date = dt.date.fromisoformat(birth) if birth else None
        except ValueError:
            raise CommandError(f"Date de naissance invalide : {birth} (attendu AAAA-MM-JJ).") from None
        return do_open_profile(
            user=user, ins=ins, birth_date=birth_date, activate=options["activate"], acting_user=None
        )

    def _profile(self, options: dict[str, Any]) -> PatientProfile:
        profiles = PatientProfile.objects.select_related("user")
        if options.get("ins"):
            try:
                found = profiles.filter(ins=check_ins(options["ins"])).first()
            except IdentifierError as exc:
                raise CommandError(f"Matricule INS invalide : {exc.reason}.") from None
        elif options.get("email"):
            found = profiles.filter(user__email=options["email"].lower()).first()
        else:
            raise CommandError("Indiquez --email ou --ins.")
        if found is None:
            raise CommandError("Aucune messagerie patient ne correspond.")
        return found
