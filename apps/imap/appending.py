"""APPEND (database thread). APPEND never sends anything.

A client that sent through SMTP submission then APPENDs its copy to Sent (Thunderbird does): the platform
already filed that copy, so a message this BAL sent with the same Message-ID within 24 hours is answered OK
with the existing copy's UID (APPENDUID) and nothing is stored. Storing other messages (a draft written in
a mail client) is not offered yet: NO [CANNOT] with the reason.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from django.utils import timezone

from apps.imap import folders
from apps.imap.session import Done
from apps.messaging.models import FolderRole, MessageCopy

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
    return Done(
        "NO",
        "La plateforme classe elle-même les messages envoyés ; enregistrer un message depuis un logiciel "
        "n'est pas encore proposé.",
        "CANNOT",
    )
