"""Writes around a BAL: members of organisational BALs, software credentials of applicative BALs, and the
structure administrators. Same rules as services.py: atomic, journaled with old/new values."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import UserKind
from apps.annuaire.models import Structure
from apps.audit.services import record_event
from apps.mailboxes.member_notices import tell_responsible
from apps.mailboxes.models import (
    ApplicationCredential,
    Mailbox,
    MailboxKind,
    MailboxMembership,
    MemberRole,
    StructureAdmin,
    ValidationDelegate,
)

CREDENTIAL_PREFIX = "bal_"


def _person(user: Any) -> str:
    return user.get_full_name() or user.email


def _check_role(role: str) -> str:
    if role not in MemberRole.values:
        raise ValidationError({"role": f"Rôle inconnu : « {role} » (lecture, envoi ou gestion)."})
    return role


def do_add_member(mailbox: Mailbox, *, user: Any, role: str, acting_user: Any) -> MailboxMembership:
    """Give a person their own access to an organisational BAL, with a role (read, send, manage)."""
    _check_role(role)
    if mailbox.kind != MailboxKind.ORGANISATIONAL:
        raise ValidationError({"user": "Seule une BAL organisationnelle a des membres."})
    if user.kind == UserKind.PATIENT or not user.is_active:
        raise ValidationError(
            {"user": f"{_person(user)} ne peut pas être membre d'une BAL de professionnels."}
        )
    with transaction.atomic():
        Mailbox.objects.select_for_update().filter(pk=mailbox.pk).first()
        if MailboxMembership.objects.filter(mailbox=mailbox, user=user).exists():
            raise ValidationError({"user": f"{_person(user)} est déjà membre de cette BAL."})
        actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
        membership = MailboxMembership.objects.create(
            mailbox=mailbox, user=user, role=role, added_by=actor, added_at=timezone.now()
        )
        record_event(
            "mailbox.member_added",
            actor=acting_user,
            mailbox=mailbox,
            target=membership,
            details={"member": user.email, "changes": {"role": {"old": None, "new": role}}},
        )
        transaction.on_commit(lambda: tell_responsible(membership, acting_user=actor))
    return membership


def do_change_member_role(membership: MailboxMembership, *, role: str, acting_user: Any) -> MailboxMembership:
    _check_role(role)
    with transaction.atomic():
        membership = (
            MailboxMembership.objects.select_for_update()
            .select_related("mailbox", "user")
            .get(pk=membership.pk)
        )
        if membership.role == role:
            return membership
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        record_event(
            "mailbox.member_role_changed",
            actor=acting_user,
            mailbox=membership.mailbox,
            target=membership,
            details={"member": membership.user.email, "changes": {"role": {"old": old, "new": role}}},
        )
    return membership


def do_remove_member(membership: MailboxMembership, *, acting_user: Any) -> None:
    with transaction.atomic():
        membership = (
            MailboxMembership.objects.select_for_update()
            .select_related("mailbox", "user")
            .get(pk=membership.pk)
        )
        record_event(
            "mailbox.member_removed",
            actor=acting_user,
            mailbox=membership.mailbox,
            target=membership,
            details={
                "member": membership.user.email,
                "changes": {"role": {"old": membership.role, "new": None}},
            },
        )
        membership.delete()


# --- Software credentials (applicative BALs) ---------------------------------------------------------------
def hash_secret(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: SHA-256 is enough and keeps each API call cheap (issue 6).
    return hashlib.sha256(secret.encode()).hexdigest()


def check_credential(token: str) -> ApplicationCredential | None:
    """The active credential `token` (`<prefix>.<secret>`) designates, or None; constant-time comparison."""
    prefix, _, secret = (token or "").partition(".")
    credential = ApplicationCredential.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if credential is None or not hmac.compare_digest(credential.secret_hash, hash_secret(secret)):
        return None
    _stamp_credential_use(credential)
    return credential


CREDENTIAL_USE_RESOLUTION = 300  # seconds: the inactivity cycle counts in days, so few writes are enough


def _stamp_credential_use(credential: ApplicationCredential) -> None:
    """Record the use (the inactivity cycle of applicative BALs reads it) at most once per resolution."""
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=CREDENTIAL_USE_RESOLUTION)
    ApplicationCredential.objects.filter(pk=credential.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
    ).update(last_used_at=now)
    credential.last_used_at = now


def do_create_credential(
    mailbox: Mailbox, *, name: str, acting_user: Any
) -> tuple[ApplicationCredential, str]:
    """A new credential for the software of an applicative BAL; the token is returned once, never stored."""
    if mailbox.kind != MailboxKind.APPLICATIVE:
        raise ValidationError("Seule une BAL applicative a des identifiants logiciels.")
    name = (name or "").strip() or "Logiciel"
    prefix, secret = CREDENTIAL_PREFIX + secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction.atomic():
        actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
        credential = ApplicationCredential.objects.create(
            mailbox=mailbox, name=name[:100], prefix=prefix, secret_hash=hash_secret(secret), created_by=actor
        )
        record_event(
            "mailbox.credential_created",
            actor=acting_user,
            mailbox=mailbox,
            target=credential,
            details={"name": credential.name, "prefix": prefix},
        )
    return credential, f"{prefix}.{secret}"


def do_revoke_credential(credential: ApplicationCredential, *, acting_user: Any) -> ApplicationCredential:
    with transaction.atomic():
        credential = (
            ApplicationCredential.objects.select_for_update(of=("self",))
            .select_related("mailbox")
            .get(pk=credential.pk)
        )
        if credential.revoked_at is None:
            credential.revoked_at = timezone.now()
            credential.save(update_fields=["revoked_at"])
            record_event(
                "mailbox.credential_revoked",
                actor=acting_user,
                mailbox=credential.mailbox,
                target=credential,
                details={"name": credential.name, "prefix": credential.prefix},
            )
    return credential


# --- Structure administrators ------------------------------------------------------------------------------
def do_add_structure_admin(structure: Structure, *, user: Any, acting_user: Any) -> StructureAdmin:
    if user.kind == UserKind.PATIENT:
        raise ValidationError({"user": "Un patient ne peut pas administrer une structure."})
    with transaction.atomic():
        actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
        admin, created = StructureAdmin.objects.get_or_create(
            user=user, structure=structure, defaults={"added_by": actor}
        )
        if created:
            record_event(
                "mailbox.structure_admin_added",
                actor=acting_user,
                target=structure,
                details={"admin": user.email, "structure": structure.idnat},
            )
    return admin


def do_remove_structure_admin(admin: StructureAdmin, *, acting_user: Any) -> None:
    with transaction.atomic():
        record_event(
            "mailbox.structure_admin_removed",
            actor=acting_user,
            target=admin.structure,
            details={"admin": admin.user.email, "structure": admin.structure.idnat},
        )
        admin.delete()


# --- Validation delegates (applicative BALs) ------------------------------------------------------------


def do_add_validation_delegate(mailbox: Mailbox, *, user: Any, acting_user: Any) -> ValidationDelegate:
    """Let a professional validate or reject, like the responsible, what the BAL's software submitted."""
    if mailbox.kind != MailboxKind.APPLICATIVE:
        raise ValidationError({"user": "Seule une BAL applicative a une file de validation."})
    if user.kind == UserKind.PATIENT or not user.is_active:
        raise ValidationError({"user": f"{_person(user)} ne peut pas valider les envois d'un logiciel."})
    if user.pk == mailbox.responsible_id:
        raise ValidationError({"user": f"{_person(user)} est déjà le responsable de cette BAL."})
    with transaction.atomic():
        if ValidationDelegate.objects.filter(mailbox=mailbox, user=user).exists():
            raise ValidationError({"user": f"{_person(user)} est déjà délégué à la validation."})
        actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
        delegate = ValidationDelegate.objects.create(mailbox=mailbox, user=user, added_by=actor)
        record_event(
            "mailbox.delegate_added",
            actor=acting_user,
            mailbox=mailbox,
            target=mailbox,
            details={"delegate": user.email},
        )
    return delegate


def do_remove_validation_delegate(delegate: ValidationDelegate, *, acting_user: Any) -> None:
    with transaction.atomic():
        record_event(
            "mailbox.delegate_removed",
            actor=acting_user,
            mailbox=delegate.mailbox,
            target=delegate.mailbox,
            details={"delegate": delegate.user.email},
        )
        delegate.delete()
