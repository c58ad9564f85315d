"""Application passwords for SMTP submission (mail clients, practice software): create, revoke, check."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import AppPassword, User
from apps.audit.services import record_event

MAX_ACTIVE = 20
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_USE_STAMP_EVERY = dt.timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    return "-".join(raw[i : i + 4] for i in range(0, 32, 4))


def do_create_app_password(user: Any, *, label: str) -> tuple[AppPassword, str]:
    """(row, secret): the secret is returned once and never stored in clear."""
    label = " ".join((label or "").split())[:100]
    if not label:
        raise ValidationError("Donnez un nom à ce mot de passe (par exemple « Thunderbird du cabinet »).")
    with transaction.atomic():
        active = AppPassword.objects.filter(user=user, revoked_at__isnull=True).count()
        if active >= MAX_ACTIVE:
            raise ValidationError(
                f"Vous avez déjà {MAX_ACTIVE} mots de passe d'application : révoquez-en un."
            )
        secret = _new_secret()
        row = AppPassword.objects.create(user=user, label=label, secret_hash=_hash(secret))
        record_event("account.app_password_created", actor=user, target=row, details={"label": label})
    return row, secret


def do_revoke_app_password(row: AppPassword, *, acting_user: Any) -> None:
    with transaction.atomic():
        AppPassword.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        record_event(
            "account.app_password_revoked", actor=acting_user, target=row, details={"label": row.label}
        )


def check_app_password(email: str, secret: str) -> User | None:
    """The active user owning this application password, or None. Constant-time on the hash compare."""
    row = check_app_password_row(email, secret)
    return row.user if row is not None else None


def check_app_password_row(email: str, secret: str, *, ip: str = "", client: str = "") -> AppPassword | None:
    """The live application password (its user loaded) matching, or None: IMAP keeps which password a
    session uses, so that revoking it ends the session."""
    cleaned = (secret or "").strip().lower()
    row = (
        AppPassword.objects.select_related("user")
        .filter(secret_hash=_hash(cleaned), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None or not hmac.compare_digest(row.user.email.lower(), (email or "").strip().lower()):
        return None
    now = timezone.now()
    seen_elsewhere = (ip and ip != row.last_used_ip) or (client and client != row.last_client)
    if row.last_used_at is None or now - row.last_used_at > _USE_STAMP_EVERY or seen_elsewhere:
        where = {"last_used_ip": ip or row.last_used_ip, "last_client": (client or row.last_client)[:100]}
        AppPassword.objects.filter(pk=row.pk).update(last_used_at=now, **where)
        # Using a client is using the BAL: it counts as an authentication for the inactivity cycle.
        User.objects.filter(pk=row.user_id).update(last_authenticated_at=now)
    return row
