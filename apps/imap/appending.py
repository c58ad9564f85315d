"""APPEND (database thread). APPEND never sends anything.

A client that sent through SMTP submission then APPENDs its copy to Sent (Thunderbird does): the platform
already filed that copy, so a message this BAL sent with the same Message-ID within 24 hours is answered OK
with the existing copy's UID (APPENDUID) and nothing is stored. A draft written in a mail client is APPENDed
to Drafts: stored encrypted like received mail (`do_receive_message` with no recipient: no delivery, so
nothing can leave) and deposited in the BAL's Drafts. Anything else (a message the platform did not send,
into Sent or another folder) is refused with NO [CANNOT]: only the platform files sent and received mail.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io

from django.db import transaction
from django.utils import timezone

from apps.imap import folders
from apps.imap.session import Done
from apps.messaging.models import FolderRole, Message, MessageCopy

DEDUP_WINDOW = dt.timedelta(hours=24)


def append_message(user_id: int, name: str, raw: bytes, flags: tuple[str, ...]) -> Done:
    from apps.accounts.models import User

    found = folders.resolve(User.objects.get(pk=user_id), name)
    if found is None:
        return Done("NO", "Ce dossier n'existe pas.", "TRYCREATE")
    if not found.writable:
        return Done("NO", "Vous n'avez qu'un accès en lecture à cette boîte.", "NOPERM")
    headers = email.message_from_bytes(
        raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=email.policy.compat32
    )
    message_id = str(headers.get("Message-ID") or "").strip()
    if found.role == FolderRole.SENT and message_id:
        existing = (
            MessageCopy.objects.filter(
                folder_id=found.folder_id,
                message__message_id=message_id,
                received_at__gte=timezone.now() - DEDUP_WINDOW,
            )
            .order_by("-uid")
            .values_list("uid", flat=True)
            .first()
        )
        if existing is not None:
            return Done(
                text="Message déjà classé dans Envoyés.", code=f"APPENDUID {found.folder_id} {existing}"
            )
    if found.role == FolderRole.DRAFTS:
        from apps.mailboxes.models import Mailbox
        from apps.mailboxes.quotas import check_quota

        refusal = check_quota(Mailbox.objects.get(pk=found.mailbox_id), len(raw))
        if refusal:
            return Done("NO", refusal, "OVERQUOTA")
        uid = _store_draft(found, user_id, raw, flags)
        return Done(text="Brouillon enregistré.", code=f"APPENDUID {found.folder_id} {uid}")
    return Done(
        "NO",
        "Seuls les brouillons peuvent être déposés (dossier Brouillons) : la plateforme classe elle-même les "
        "messages envoyés et reçus.",
        "CANNOT",
    )


def _store_draft(found: folders.ImapFolder, user_id: int, raw: bytes, flags: tuple[str, ...]) -> int:
    from apps.accounts.models import User
    from apps.audit.services import record_event
    from apps.messaging.delivery.deliver import do_deposit, drop_transit_keys
    from apps.messaging.delivery.inbound import do_receive_message
    from apps.messaging.models import Origin

    user = User.objects.get(pk=user_id)
    with transaction.atomic():
        message = do_receive_message(
            raw=io.BytesIO(raw),
            envelope_sender="",
            recipients=[],
            origin=Origin.SUBMISSION,
            handle_reports=False,
        )
        assert message is not None  # noqa: S101 - reports are not handled here, so a message is stored
        Message.objects.filter(pk=message.pk).update(sent_by=user)
        copy = do_deposit(message, found.mailbox_id, folder_role=FolderRole.DRAFTS)
        MessageCopy.objects.filter(pk=copy.pk).update(
            is_read="\\Seen" in flags, is_flagged="\\Flagged" in flags
        )
        drop_transit_keys([message.pk])
        record_event(
            "imap.draft_appended",
            actor=user,
            target=copy,
            details={"channel": "imap", "folder": found.name, "size": message.size},
        )
    copy.refresh_from_db(fields=["uid"])
    return int(copy.uid or 0)
