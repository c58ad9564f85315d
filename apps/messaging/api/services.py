"""Writes of the applicative API: submit (held for validation) and mark a received message processed.

Both are journaled in the same transaction, naming the software (credential), never a person: the person
who answers for the BAL appears when they validate or reject (services_validation).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.messaging.api.auth import ApiClient
from apps.messaging.api.serializers import Submission
from apps.messaging.delivery.submit import Outgoing, do_submit_message
from apps.messaging.models import FolderRole, Message, MessageCopy, Origin
from apps.messaging.store.folders import system_folder

IDEMPOTENCY_KEY_MAX = 150


def scoped_idempotency_key(client: ApiClient, key: str) -> str:
    """Keys are unique platform-wide in the table: prefixing with the credential keeps one software's key
    from ever answering another's request."""
    return f"api:{client.credential.pk}:{key}"


def find_replay(client: ApiClient, key: str | None) -> Message | None:
    if not key:
        return None
    return Message.objects.filter(idempotency_key=scoped_idempotency_key(client, key)).first()


def do_api_submit(
    client: ApiClient, submission: Submission, *, idempotency_key: str | None
) -> tuple[Message, bool]:
    """Store the message, its deliveries HELD until the responsible professional validates it.

    Returns (message, created); with an idempotency key already used by this credential, the first message
    and False. Raises SubmissionRefused or MessageTooLarge (nothing stored).
    """
    replay = find_replay(client, idempotency_key)
    if replay is not None:
        return replay, False
    scoped = scoped_idempotency_key(client, idempotency_key) if idempotency_key else None
    outgoing = Outgoing(
        mailbox=client.mailbox,
        to=submission.to,
        cc=submission.cc,
        bcc=submission.bcc,
        subject=submission.subject,
        text=submission.body,
        attachments=submission.attachments,
        patient_ins=submission.patient_ins,
        read_receipt=submission.read_receipt,
        origin=Origin.API,
        idempotency_key=scoped,
        hold=True,
    )
    try:
        with transaction.atomic():
            message = do_submit_message(outgoing, acting_user=None)
            record_event(
                "api.message_submitted",
                mailbox=client.mailbox,
                target=message,
                actor_label=client.label,
                details={"credential": client.credential.prefix, "auth": client.method},
            )
    except IntegrityError:
        # Two requests with the same key raced: the first one's message answers both.
        replay = find_replay(client, idempotency_key)
        if replay is None:
            raise
        return replay, False
    return message, True


def do_mark_processed(client: ApiClient, copy: MessageCopy) -> bool:
    """File a received message in Archives and mark it read: the software has handled it. Returns False
    when it was already processed (the call is idempotent)."""
    archive = system_folder(client.mailbox.pk, FolderRole.ARCHIVE)
    with transaction.atomic():
        moved = (
            MessageCopy.objects.filter(pk=copy.pk, mailbox=client.mailbox)
            .exclude(folder=archive)
            .update(folder=archive, previous_folder=copy.folder_id, is_read=True)
        )
        if moved:
            record_event(
                "api.message_processed",
                mailbox=client.mailbox,
                target=copy,
                actor_label=client.label,
                details={"credential": client.credential.prefix, "at": timezone.now().isoformat()},
            )
    return bool(moved)
