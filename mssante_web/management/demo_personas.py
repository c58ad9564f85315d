"""The demo personas of docs/design.md: who `make run` lets you log in as, and how.

Plain data first (no Django import) so that scripts/devrun.py can print the logins without starting Django;
`seed_personas` creates or refreshes the accounts. Every persona that must use a second factor gets a TOTP
authenticator with a FIXED secret (so `demo_totp` can print the current code) and recovery codes already
confirmed, so the demo logins work at once. Demo only: the secrets are public by construction.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Protocol


class Writer(Protocol):
    def write(self, msg: str, /) -> Any: ...


DEMO_PASSWORD = "Motdepasse-demo-2026!"  # noqa: S105 - public on purpose: demo accounts only


@dataclass(frozen=True)
class Persona:
    key: str
    email: str
    first_name: str
    last_name: str
    kind: str  # an apps.accounts.models.UserKind value
    role: str  # what the persona does in the demo, in French, for the banner
    national_id: str = ""
    operator_admin: bool = False

    @property
    def needs_totp(self) -> bool:
        # Patients too: the portal requires a second factor before any health data (apps.patients.portal).
        return True

    @property
    def totp_secret(self) -> str:
        # Derived from the e-mail: stable across re-seeds and machines, different for each persona.
        digest = hashlib.sha256(f"mssante-demo-totp:{self.email}".encode()).digest()[:20]
        return base64.b32encode(digest).decode("ascii")


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "dr_alice",
        "alice.martin@demo.mssante.fr",
        "Alice",
        "Martin",
        "professional",
        "médecin généraliste, BAL nominative",
        national_id="810001234565",
    ),
    Persona(
        "sec_bob",
        "bob.leroy@demo.mssante.fr",
        "Bob",
        "Leroy",
        "staff",
        "secrétaire, BAL organisationnelle de cardiologie",
    ),
    Persona(
        "charlie",
        "charlie.petit@demo.mssante.fr",
        "Charlie",
        "Petit",
        "professional",
        "professionnel hors de l'équipe",
        national_id="810002345675",
    ),
    Persona(
        "pharma_ines",
        "ines.roux@demo.mssante.fr",
        "Inès",
        "Roux",
        "professional",
        "pharmacienne, BAL de l'officine",
        national_id="810003456786",
    ),
    Persona(
        "patient_paul",
        "paul.bernard@example.test",
        "Paul",
        "Bernard",
        "patient",
        "patient, messagerie citoyenne (MSS-C)",
    ),
    Persona(
        "admin_olga",
        "olga.admin@demo.mssante.fr",
        "Olga",
        "Admin",
        "operator_admin",
        "administratrice de l'opérateur",
        operator_admin=True,
    ),
)


def persona(key: str) -> Persona:
    return next(p for p in PERSONAS if p.key == key)


def seed_personas(stdout: Writer) -> None:
    """Create or refresh every persona (password, names, second factor): running it twice changes nothing."""
    from django.db import transaction

    with transaction.atomic():
        for one in PERSONAS:
            user, created = _upsert_user(one)
            if one.needs_totp:
                _ensure_second_factor(user, one.totp_secret)
            stdout.write(f"{'Créé' if created else 'À jour'} : {one.email} ({one.role})\n")


def _upsert_user(one: Persona):  # -> tuple[User, bool]
    from apps.accounts.models import User

    user = User.objects.filter(email=one.email).first()
    created = user is None
    if user is None:
        user = User(email=one.email)
    user.first_name, user.last_name, user.kind = one.first_name, one.last_name, one.kind
    user.national_id = one.national_id
    user.is_active = True
    user.is_staff = user.is_superuser = one.operator_admin
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
    user.save()
    return user, created


def _ensure_second_factor(user, secret: str) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP
    from allauth.mfa.utils import decrypt
    from django.utils import timezone

    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is not None and decrypt(totp.data["secret"]) != secret:
        totp.delete()  # someone re-enrolled in the demo: back to the documented secret
        totp = None
    if totp is None:
        TOTP.activate(user, secret)
    RecoveryCodes.activate(user)  # keeps existing codes
    now = timezone.now()
    changed = [f for f in ("mfa_enrolled_at", "recovery_codes_saved_at") if getattr(user, f, None) is None]
    for field in changed:
        setattr(user, field, now)
    if changed:
        user.save(update_fields=changed)
