"""An organisational BAL as a work queue: who handles a message (assignee), where it stands (nouveau / en
cours / traité) and the team's internal notes — never sent, encrypted like the content.

The caller has checked write access to the copy (`access_copy(..., for_write=True)`); these services check
what only they can: the BAL is organisational and the assignee may act in it. Each change is audited
with the person who made it (Ref#2 traceability); a note's text never reaches the journal.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from apps.audit.services import record_event
from apps.mailboxes.models import MailboxKind
from apps.mailboxes.policies import access_mailbox
from apps.messaging.models import InternalNote, MessageCopy, QueueStatus
from apps.messaging.store import content

NOTE_MAX_CHARS = 4000


def _require_queue(copy: MessageCopy) -> None:
    if copy.mailbox.kind != MailboxKind.ORGANISATIONAL:
        raise ValidationError(
            "Le suivi des demandes n'existe que dans les boîtes aux lettres organisationnelles."
        )


def do_assign(copy: MessageCopy, assignee: Any | None, *, acting_user: Any) -> None:
    """Give the message to a member of the BAL (or to nobody); a new message becomes « en cours »."""
    _require_queue(copy)
    if assignee is not None:
        try:
            access_mailbox(assignee, copy.mailbox, for_write=True)
        except Http404:
            raise ValidationError("Cette personne ne peut pas traiter les messages de cette boîte.") from None
    old = copy.assignee_id
    status = copy.queue_status
    if assignee is not None and status == QueueStatus.NEW:
        status = QueueStatus.IN_PROGRESS
    with transaction.atomic():
        MessageCopy.objects.filter(pk=copy.pk).update(assignee=assignee, queue_status=status)
        record_event(
            "message.assigned",
            actor=acting_user,
            mailbox=copy.mailbox,
            target=copy,
            details={
                "changes": {
                    "assignee": {"old": old, "new": assignee.pk if assignee else None},
                    "queue_status": {"old": copy.queue_status, "new": status},
                }
            },
        )
    copy.assignee, copy.queue_status = assignee, status


def do_set_queue_status(copy: MessageCopy, status: str, *, acting_user: Any) -> None:
    _require_queue(copy)
    if status not in QueueStatus.values:
        raise ValidationError("Ce statut n'existe pas.")
    old = copy.queue_status
    with transaction.atomic():
        MessageCopy.objects.filter(pk=copy.pk).update(queue_status=status)
        record_event(
            "message.queue_status",
            actor=acting_user,
            mailbox=copy.mailbox,
            target=copy,
            details={"changes": {"queue_status": {"old": old, "new": status}}},
        )
    copy.queue_status = status


def do_add_note(copy: MessageCopy, text: str, *, acting_user: Any) -> InternalNote:
    """An internal note of the team, sealed with the message's data key (bound to this copy)."""
    _require_queue(copy)
    body = (text or "").strip()
    if not body:
        raise ValidationError("La note est vide.")
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationError(f"Une note ne doit pas dépasser {NOTE_MAX_CHARS} caractères.")
    data_key = content.data_key_of_copy(copy)
    with transaction.atomic():
        note = InternalNote.objects.create(
            copy=copy,
            author=acting_user,
            body_enc=content.seal_text(data_key, copy.message_id, f"note-{copy.pk}", body),
            created_at=timezone.now(),
        )
        record_event(
            "message.note_added",
            actor=acting_user,
            mailbox=copy.mailbox,
            target=copy,
            details={"note": note.pk, "length": len(body)},
        )
    return note
