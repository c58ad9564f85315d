"""Inviting a person who has no account yet into an organisational BAL (issue 14, item 7).

The invitation leaves through Django's e-mail backend (the channel of the inactivity notices, outside the
trust space): it carries no health data, only who invites, to which BAL, and a single-use link valid 72 hours.
Following it, the person chooses a password; the second-factor gate then enrols a factor, and the login lands
on the BAL (User.last_mailbox_id). Every step is journaled; an invitation can be revoked or resent (a new
token: the previous link stops working).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User, UserKind
from apps.audit.services import record_event
from apps.mailboxes.models import Invitation, Mailbox, MailboxKind
from apps.mailboxes.services_members import do_add_member

log = logging.getLogger(__name__)
VALIDITY = timedelta(hours=72)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def accept_url(token: str) -> str:
    return str(settings.SITE_URL or "").rstrip("/") + reverse("mailboxes:invitation-accept", args=[token])


def _send(invitation: Invitation, token: str) -> None:
    """After commit: the e-mail leaves only once the invitation exists; a failure is logged, not lost."""
    context = {"invitation": invitation, "url": accept_url(token), "operator": settings.OPERATOR_NAME}
    subject = render_to_string("emails/invitation.subject.txt", context).strip()
    body = render_to_string("emails/invitation.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email], fail_silently=False)
    except Exception:  # noqa: BLE001 — the relay may be down: the admin can resend from the BAL's page
        log.exception("invitation %s: the e-mail could not be sent", invitation.pk)


def do_invite(
    mailbox: Mailbox, *, email: str, first_name: str, last_name: str, role: str, acting_user: Any
) -> Invitation:
    email = email.strip().lower()
    if mailbox.kind != MailboxKind.ORGANISATIONAL:
        raise ValidationError("Seule une BAL organisationnelle accueille des membres.")
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": "Un compte utilise déjà cette adresse : ajoutez la personne comme membre ci-dessus."}
        )
    token, digest = _new_token()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                mailbox=mailbox,
                email=email,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                role=role,
                token_hash=digest,
                expires_at=timezone.now() + VALIDITY,
                invited_by=acting_user,
            )
            record_event(
                "account.invitation_sent", actor=acting_user, mailbox=mailbox, target=invitation,
                details={"email": email, "role": role},
            )  # fmt: skip
    except IntegrityError:
        raise ValidationError({"email": "Une invitation est déjà en attente pour cette adresse."}) from None
    transaction.on_commit(lambda: _send(invitation, token))
    return invitation


@transaction.atomic
def do_resend(invitation: Invitation, *, acting_user: Any) -> Invitation:
    if not invitation.is_pending:
        raise ValidationError("Cette invitation n'est plus en attente.")
    token, invitation.token_hash = _new_token()
    invitation.expires_at = timezone.now() + VALIDITY
    invitation.sent_count += 1
    invitation.save(update_fields=["token_hash", "expires_at", "sent_count"])
    record_event(
        "account.invitation_resent", actor=acting_user, mailbox=invitation.mailbox, target=invitation
    )
    transaction.on_commit(lambda: _send(invitation, token))
    return invitation


@transaction.atomic
def do_revoke(invitation: Invitation, *, acting_user: Any) -> Invitation:
    if not invitation.is_pending:
        raise ValidationError("Cette invitation n'est plus en attente.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record_event(
        "account.invitation_revoked", actor=acting_user, mailbox=invitation.mailbox, target=invitation
    )
    return invitation


def find_usable(token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("mailbox").filter(token_hash=hash_token(token)).first()
    return invitation if invitation is not None and invitation.is_usable else None


def do_accept(token: str, *, password: str) -> User:
    """The account, created with the chosen password and made a member of the BAL; the link is spent."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("mailbox")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if invitation is None or not invitation.is_usable:
            raise ValidationError(
                "Ce lien d'invitation n'est plus valable : demandez une nouvelle invitation."
            )
        user = User(
            email=invitation.email,
            first_name=invitation.first_name,
            last_name=invitation.last_name,
            kind=UserKind.STAFF,
            national_id="",
            last_mailbox_id=invitation.mailbox_id,
        )
        validate_password(password, user)
        user.set_password(password)
        user.save()
        do_add_member(invitation.mailbox, user=user, role=invitation.role, acting_user=invitation.invited_by)
        invitation.accepted_at, invitation.user = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "user"])
        record_event("account.invitation_accepted", actor=user, mailbox=invitation.mailbox, target=invitation)
    return user
