"""THE access policy of BALs. Every view, task or API endpoint that takes a BAL id calls `access_mailbox`.

Acting in a BAL (reading, sending): the owner of a nominative BAL; the members of an organisational BAL
(role `read` reads only); the responsible professional of an organisational or applicative BAL reads it.
A suspended BAL is closed to all of them. Operator administrators do not act in BALs (no health data); they,
the structure's administrators, the responsible professional and `manage` members administer it
(`for_manage=True`), suspended or not. Anything else is a 404, never a 403: the BAL's existence does not
leak (docs/decisions/0006-mailboxes.md).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.accounts.models import UserKind
from apps.mailboxes.models import (
    Mailbox,
    MailboxKind,
    MailboxMembership,
    StructureAdmin,
    ValidationDelegate,
)


def is_operator_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.kind == UserKind.OPERATOR_ADMIN or user.is_superuser))


def _load(mailbox_or_id: Mailbox | int | str) -> Mailbox:
    if isinstance(mailbox_or_id, Mailbox):
        return mailbox_or_id
    try:
        pk = int(mailbox_or_id)
    except (TypeError, ValueError):
        raise Http404 from None
    mailbox = Mailbox.objects.select_related("structure", "responsible", "owner").filter(pk=pk).first()
    if mailbox is None:
        raise Http404
    return mailbox


def membership_of(user: Any, mailbox: Mailbox) -> MailboxMembership | None:
    if not user.is_authenticated or mailbox.kind != MailboxKind.ORGANISATIONAL:
        return None
    cache = getattr(mailbox, "_membership_cache", {})
    if user.pk not in cache:
        cache[user.pk] = MailboxMembership.objects.filter(mailbox=mailbox, user=user).first()
        mailbox._membership_cache = cache  # type: ignore[attr-defined]
    return cache[user.pk]


def _may_act(user: Any, mailbox: Mailbox, *, for_write: bool) -> bool:
    if not user.is_authenticated or not mailbox.is_active:
        return False
    if mailbox.kind in (MailboxKind.NOMINATIVE, MailboxKind.PATIENT):
        return mailbox.owner_id == user.pk
    if mailbox.kind == MailboxKind.ORGANISATIONAL:
        membership = membership_of(user, mailbox)
        if membership is not None:
            return membership.can_send or not for_write
    # The responsible professional of an organisational/applicative BAL reads it; validation delegates read
    # the applicative BAL whose submissions they review (its attachments included).
    if for_write:
        return False
    return mailbox.responsible_id == user.pk or is_validation_delegate(user, mailbox)


def is_validation_delegate(user: Any, mailbox: Mailbox) -> bool:
    return bool(
        user.is_authenticated
        and mailbox.kind == MailboxKind.APPLICATIVE
        and ValidationDelegate.objects.filter(mailbox=mailbox, user=user).exists()
    )


def can_review_mailbox(user: Any, mailbox: Mailbox) -> bool:
    """Who validates or rejects what an applicative BAL submitted (issue 6): its responsible professional
    and the delegates the BAL's managers named."""
    return bool(
        user.is_authenticated
        and mailbox.kind == MailboxKind.APPLICATIVE
        and mailbox.is_active
        and (mailbox.responsible_id == user.pk or is_validation_delegate(user, mailbox))
    )


def can_administer_structure(user: Any, structure: Any) -> bool:
    if structure is None or not user.is_authenticated:
        return False
    if is_operator_admin(user):
        return True
    return StructureAdmin.objects.filter(user=user, structure=structure).exists()


def can_manage_mailbox(user: Any, mailbox: Mailbox) -> bool:
    if not user.is_authenticated:
        return False
    if is_operator_admin(user) or mailbox.responsible_id == user.pk:
        return True
    if mailbox.structure_id is not None and can_administer_structure(user, mailbox.structure):
        return True
    membership = membership_of(user, mailbox)
    return membership is not None and membership.can_manage


def can_view_mailbox_journal(user: Any, mailbox: Mailbox) -> bool:
    """The owner, the responsible professional and the managers read who did what in the BAL."""
    if not user.is_authenticated:
        return False
    if mailbox.kind in (MailboxKind.NOMINATIVE, MailboxKind.PATIENT):
        return mailbox.owner_id == user.pk
    return can_manage_mailbox(user, mailbox)


def access_mailbox(
    user: Any, mailbox_or_id: Mailbox | int | str, *, for_write: bool = False, for_manage: bool = False
) -> Mailbox:
    """The BAL if `user` may act in it (write: send/modify) or, with `for_manage`, administer it; else 404."""
    mailbox = _load(mailbox_or_id)
    allowed = (
        can_manage_mailbox(user, mailbox) if for_manage else _may_act(user, mailbox, for_write=for_write)
    )
    if not allowed:
        raise Http404
    return mailbox


def can_use_imap(mailbox: Mailbox) -> bool:
    """Whether a BAL may be reached over IMAP at all: its managers may forbid it, and so may the admins of
    its structure for all its BALs; `access_mailbox` still decides who may act in it."""
    if not mailbox.imap_allowed:
        return False
    structure = mailbox.structure if mailbox.structure_id is not None else None
    return structure is None or bool(structure.imap_allowed)


def can_log_in_over_imap(usable_mailboxes: list[Any]) -> bool:
    """A person may open an IMAP session unless every BAL they may act in is closed to IMAP (someone with
    no BAL at all may still log in: they see an empty list). `usable_mailboxes`: list_mailboxes_for()."""
    return not usable_mailboxes or any(can_use_imap(item.mailbox) for item in usable_mailboxes)


def can_use_administration(user: Any) -> bool:
    """Operator and structure admins see the administration pages; for anyone else they do not exist."""
    if not user.is_authenticated:
        return False
    return is_operator_admin(user) or StructureAdmin.objects.filter(user=user).exists()


def access_administration(user: Any) -> None:
    if not can_use_administration(user):
        raise Http404


def post_after_access(*, for_manage: bool):
    """Like require_POST, but the BAL is checked first: a GET on a BAL one may not use is a 404, not a 405
    that would confirm the BAL exists."""
    from functools import wraps

    from django.http import HttpResponseNotAllowed

    def decorator(view):  # noqa: ANN001, ANN202
        @wraps(view)
        def wrapped(request, mailbox_id, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            access_mailbox(request.user, mailbox_id, for_manage=for_manage)
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, mailbox_id, *args, **kwargs)

        return wrapped

    return decorator
