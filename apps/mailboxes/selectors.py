"""Reads of the mailboxes app: the BALs a person may use, the administration lists, a BAL's members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from apps.annuaire.models import Structure
from apps.mailboxes.models import (
    ApplicationCredential,
    Mailbox,
    MailboxKind,
    MailboxMembership,
    MailboxStatus,
    MemberRole,
)
from apps.mailboxes.policies import is_operator_admin


@dataclass(frozen=True)
class UsableMailbox:
    mailbox: Mailbox
    role: str  # "owner", "responsible" or a MemberRole value

    @property
    def role_label(self) -> str:
        if self.role == "owner":
            return "Titulaire"
        if self.role == "responsible":
            return "Responsable"
        if self.role == "delegate":
            return "Délégué à la validation"
        return MemberRole(self.role).label

    @property
    def can_write(self) -> bool:
        return self.role in ("owner", MemberRole.SEND, MemberRole.MANAGE)


def list_mailboxes_for(user: Any) -> list[UsableMailbox]:
    """Every active BAL `user` may act in, with their role in it: one query. Mirrors policies._may_act."""
    if not user.is_authenticated:
        return []
    member_role = MailboxMembership.objects.filter(mailbox=OuterRef("pk"), user=user).values("role")[:1]
    mailboxes = (
        Mailbox.objects.filter(status=MailboxStatus.ACTIVE)
        .filter(
            Q(kind=MailboxKind.NOMINATIVE, owner=user)
            | Q(kind=MailboxKind.ORGANISATIONAL, memberships__user=user)
            | Q(kind__in=[MailboxKind.ORGANISATIONAL, MailboxKind.APPLICATIVE], responsible=user)
            | Q(kind=MailboxKind.APPLICATIVE, validation_delegates__user=user)
        )
        .annotate(member_role=Subquery(member_role))
        .select_related("structure")
        .distinct()
        .order_by("kind", "address")
    )
    usable = []
    for mailbox in mailboxes:
        member_role_value = mailbox.member_role  # type: ignore[attr-defined]
        role = "owner" if mailbox.kind == MailboxKind.NOMINATIVE else member_role_value or "responsible"
        if mailbox.kind == MailboxKind.APPLICATIVE and mailbox.responsible_id != user.pk:
            role = "delegate"
        usable.append(UsableMailbox(mailbox, role))
    return usable


def search_admin_mailboxes(
    user: Any, *, query: str = "", kind: str = "", status: str = "", structure_id: int | None = None
) -> QuerySet[Mailbox]:
    """The BALs `user` administers (all for operator admins, their structures' for structure admins)."""
    mailboxes = Mailbox.objects.select_related("structure", "responsible", "owner")
    if not is_operator_admin(user):
        mailboxes = mailboxes.filter(structure__admins__user=user)
    if query:
        mailboxes = mailboxes.filter(
            Q(address__icontains=query) | Q(display_name__icontains=query) | Q(service__icontains=query)
        )
    if kind == "cabinet":
        mailboxes = mailboxes.filter(is_cabinet=True)
    elif kind:
        mailboxes = mailboxes.filter(kind=kind, is_cabinet=False)
    if status:
        mailboxes = mailboxes.filter(status=status)
    if structure_id:
        mailboxes = mailboxes.filter(structure_id=structure_id)
    return mailboxes.order_by("address")


def list_members(mailbox: Mailbox) -> QuerySet[MailboxMembership]:
    return mailbox.memberships.select_related("user", "added_by").order_by("user__last_name", "user__email")


def list_credentials(mailbox: Mailbox) -> QuerySet[ApplicationCredential]:
    return mailbox.credentials.order_by("-created_at")


def list_administered_structures(user: Any) -> QuerySet:
    from apps.annuaire.models import Structure

    structures = Structure.objects.filter(is_active=True)
    if not is_operator_admin(user):
        structures = structures.filter(admins__user=user)
    return structures.order_by("name")


def administered_structures(user: Any) -> QuerySet[Structure]:
    """Structures whose settings `user` may change: all those with a BAL here for an operator admin, those
    they were named admin of for a structure admin."""
    if is_operator_admin(user):
        found = Structure.objects.filter(mailboxes__isnull=False)
    else:
        found = Structure.objects.filter(admins__user=user)
    return found.distinct().order_by("name", "idnat")
