"""What a person does with the copies of a BAL: read, flag, file, delete, folders — each audited.

Read state: a nominative BAL has one reader; an organisational BAL records who read (CopyRead) and keeps
`is_read` as "someone in the team read it". The first read also returns the read receipt the sender asked
for, if the reader's preference allows it (services_delivery.do_record_read).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.audit.services import record_event
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.quotas import do_add_usage
from apps.messaging.models import (
    Attachment,
    CopyRead,
    Folder,
    FolderRole,
    Message,
    MessageCopy,
)
from apps.messaging.store import blobs
from apps.messaging.store.folders import system_folder

MAX_FOLDER_NAME = 100


def do_mark_read(copy: MessageCopy, *, user: Any, read: bool = True) -> None:
    from apps.messaging.delivery.deliver import do_record_read

    with transaction.atomic():
        first_read = read and not copy.is_read
        MessageCopy.objects.filter(pk=copy.pk).update(is_read=read)
        copy.is_read = read
        if read and copy.mailbox.kind == MailboxKind.ORGANISATIONAL:
            CopyRead.objects.get_or_create(copy=copy, user=user)
        if read:
            record_event("message.read", actor=user, mailbox=copy.mailbox, target=copy)
        if first_read and not copy.is_outgoing:
            do_record_read(copy, user=user)


def do_set_flag(copy: MessageCopy, *, flagged: bool, user: Any) -> None:
    with transaction.atomic():
        MessageCopy.objects.filter(pk=copy.pk).update(is_flagged=flagged)
        copy.is_flagged = flagged
        record_event(
            "message.flagged" if flagged else "message.unflagged",
            actor=user,
            mailbox=copy.mailbox,
            target=copy,
        )


def _same_mailbox(copies: Iterable[MessageCopy], mailbox_id: int) -> list[MessageCopy]:
    copies = list(copies)
    if any(c.mailbox_id != mailbox_id for c in copies):
        raise ValidationError("Ces messages n'appartiennent pas à cette boîte aux lettres.")
    return copies


def do_move_copies(copies: Iterable[MessageCopy], *, folder: Folder, user: Any) -> int:
    copies = _same_mailbox(copies, folder.mailbox_id)
    with transaction.atomic():
        ids = [c.pk for c in copies]
        moved = MessageCopy.objects.filter(pk__in=ids).update(folder=folder, previous_folder=None)
        record_event(
            "message.moved",
            actor=user,
            mailbox=folder.mailbox,
            target=folder,
            details={"copies": ids, "folder": folder.name},
        )
    return moved


def do_trash_copies(copies: Iterable[MessageCopy], *, user: Any) -> int:
    copies = list(copies)
    if not copies:
        return 0
    mailbox_id = copies[0].mailbox_id
    copies = _same_mailbox(copies, mailbox_id)
    trash = system_folder(mailbox_id, FolderRole.TRASH)
    with transaction.atomic():
        moved = 0
        for copy in copies:
            if copy.folder_id == trash.pk:
                continue
            moved += MessageCopy.objects.filter(pk=copy.pk).update(
                folder=trash, previous_folder=copy.folder_id
            )
        record_event(
            "message.trashed",
            actor=user,
            mailbox=trash.mailbox,
            target=trash,
            details={"copies": [c.pk for c in copies]},
        )
    return moved


def do_restore_copies(copies: Iterable[MessageCopy], *, user: Any) -> int:
    copies = list(copies)
    if not copies:
        return 0
    mailbox_id = copies[0].mailbox_id
    copies = _same_mailbox(copies, mailbox_id)
    inbox = system_folder(mailbox_id, FolderRole.INBOX)
    with transaction.atomic():
        for copy in copies:
            target = copy.previous_folder_id or inbox.pk
            MessageCopy.objects.filter(pk=copy.pk).update(folder_id=target, previous_folder=None)
        record_event(
            "message.restored",
            actor=user,
            mailbox=inbox.mailbox,
            target=inbox,
            details={"copies": [c.pk for c in copies]},
        )
    return len(copies)


def do_delete_copies(copies: Iterable[MessageCopy], *, user: Any, reason: str = "message.deleted") -> int:
    """Delete copies for good: the BAL's wraps go with them (crypto-shredding for this BAL); a message
    whose last copy goes is deleted with its blobs once no delivery still needs it."""
    copies = list(copies)
    if not copies:
        return 0
    mailbox = copies[0].mailbox
    copies = _same_mailbox(copies, mailbox.pk)
    with transaction.atomic():
        message_ids_ = {c.message_id for c in copies}
        freed = sum(c.message.size for c in copies)
        MessageCopy.objects.filter(pk__in=[c.pk for c in copies]).delete()
        do_add_usage(mailbox.pk, -freed)
        record_event(reason, actor=user, mailbox=mailbox, target=mailbox, details={"count": len(copies)})
        orphans = _collect_orphans(message_ids_)
    transaction.on_commit(lambda: _delete_blobs(orphans))
    return len(copies)


def _delete_blobs(names: list[str]) -> None:
    for name in names:
        blobs.release_blob(name)  # a file waits BLOB_GRACE_HOURS: a running backup may still need it


def _collect_orphans(candidates: set[Any]) -> list[str]:
    """Delete messages no copy holds and no pending delivery needs; return their blob names."""
    from apps.messaging.constants import TRANSIT_STATES

    orphans = (
        Message.objects.filter(pk__in=candidates, copies__isnull=True)
        .exclude(deliveries__state__in=TRANSIT_STATES)
        .values_list("pk", "raw_blob")
    )
    rows = list(orphans)
    if not rows:
        return []
    ids = [pk for pk, _ in rows]
    names = [raw for _, raw in rows if raw]
    names += list(Attachment.objects.filter(message_id__in=ids).values_list("blob", flat=True))
    Message.objects.filter(pk__in=ids).delete()
    return names


def do_empty_trash(mailbox: Mailbox, *, user: Any) -> int:
    trash = system_folder(mailbox.pk, FolderRole.TRASH)
    copies = MessageCopy.objects.filter(folder=trash).select_related("message", "mailbox")
    return do_delete_copies(copies, user=user, reason="message.trash_emptied")


FOLDER_SEPARATOR = "/"  # "Dossier/Sous-dossier": the IMAP hierarchy delimiter too (apps/imap/folders.py)
MAX_FOLDER_DEPTH = 5


def _clean_name(name: str) -> str:
    """A folder path: segments separated by « / », each trimmed and non-empty."""
    segments = [" ".join(part.split()) for part in (name or "").split(FOLDER_SEPARATOR)]
    if not any(segments):
        raise ValidationError("Donnez un nom au dossier.")
    if not all(segments):
        raise ValidationError(
            "Un nom de dossier ne commence ni ne finit par « / » et ne contient pas « // » : « / » sépare "
            "un dossier de ses sous-dossiers."
        )
    if len(segments) > MAX_FOLDER_DEPTH:
        raise ValidationError(f"Les sous-dossiers s'arrêtent à {MAX_FOLDER_DEPTH} niveaux.")
    cleaned = FOLDER_SEPARATOR.join(segments)
    if len(cleaned) > MAX_FOLDER_NAME:
        raise ValidationError(f"Le nom du dossier ne doit pas dépasser {MAX_FOLDER_NAME} caractères.")
    return cleaned


def _ancestors(path: str) -> list[str]:
    parts = path.split(FOLDER_SEPARATOR)
    return [FOLDER_SEPARATOR.join(parts[:depth]) for depth in range(1, len(parts))]


def _make_parents(mailbox: Mailbox, path: str, user: Any) -> None:
    """Create the missing parents of `path` (as IMAP's CREATE does); a parent must be a folder of the
    person's own, never one of the messagerie's (Boîte de réception, Corbeille…)."""
    existing = {f.name: f for f in Folder.objects.filter(mailbox=mailbox, name__in=_ancestors(path))}
    for parent in _ancestors(path):
        found = existing.get(parent)
        if found is not None and found.role != FolderRole.CUSTOM:
            raise ValidationError(
                f"Le dossier « {parent} » de la messagerie ne reçoit pas de sous-dossiers : créez-les dans "
                "vos propres dossiers."
            )
        if found is None:
            created = Folder.objects.create(mailbox=mailbox, role=FolderRole.CUSTOM, name=parent)
            record_event(
                "folder.created", actor=user, mailbox=mailbox, target=created, details={"name": parent}
            )


def _children(folder: Folder) -> Any:
    return Folder.objects.filter(
        mailbox_id=folder.mailbox_id, name__startswith=folder.name + FOLDER_SEPARATOR
    )


def do_create_folder(mailbox: Mailbox, name: str, *, user: Any) -> Folder:
    """A folder of one's own; « A/B » is B inside A (A is created if missing)."""
    cleaned = _clean_name(name)
    try:
        with transaction.atomic():
            _make_parents(mailbox, cleaned, user)
            folder = Folder.objects.create(mailbox=mailbox, role=FolderRole.CUSTOM, name=cleaned)
            record_event(
                "folder.created", actor=user, mailbox=mailbox, target=folder, details={"name": cleaned}
            )
    except IntegrityError:
        raise ValidationError(f"Un dossier « {cleaned} » existe déjà.") from None
    return folder


def do_rename_folder(folder: Folder, name: str, *, user: Any) -> Folder:
    """Rename (or move within the BAL, « A/B » → « C/B »): its subfolders follow it."""
    if folder.role != FolderRole.CUSTOM:
        raise ValidationError("Les dossiers de la messagerie ne peuvent pas être renommés.")
    cleaned = _clean_name(name)
    old = folder.name
    if cleaned == old:
        return folder
    if cleaned.startswith(old + FOLDER_SEPARATOR):
        raise ValidationError("Un dossier ne peut pas être déplacé dans l'un de ses propres sous-dossiers.")
    try:
        with transaction.atomic():
            children = list(_children(folder).select_for_update())
            Folder.objects.filter(pk=folder.pk).update(name=cleaned)
            for child in children:
                Folder.objects.filter(pk=child.pk).update(name=cleaned + child.name[len(old) :])
            _make_parents(folder.mailbox, cleaned, user)
            record_event(
                "folder.renamed",
                actor=user,
                mailbox=folder.mailbox,
                target=folder,
                details={"changes": {"name": {"old": old, "new": cleaned}}, "subfolders": len(children)},
            )
    except IntegrityError:
        raise ValidationError(f"Un dossier « {cleaned} » existe déjà.") from None
    folder.name = cleaned
    return folder


def do_delete_folder(folder: Folder, *, user: Any) -> None:
    """Delete a user folder; its messages go to the Corbeille (nothing is lost by deleting a folder). A
    folder with subfolders is kept until they are deleted or moved (nothing disappears unseen)."""
    if folder.role != FolderRole.CUSTOM:
        raise ValidationError("Les dossiers de la messagerie ne peuvent pas être supprimés.")
    if _children(folder).exists():
        raise ValidationError(
            f"Le dossier « {folder.name} » contient des sous-dossiers : supprimez-les ou déplacez-les "
            "d'abord."
        )
    trash = system_folder(folder.mailbox_id, FolderRole.TRASH)
    with transaction.atomic():
        MessageCopy.objects.filter(folder=folder).update(folder=trash, previous_folder=None)
        MessageCopy.objects.filter(Q(previous_folder=folder)).update(previous_folder=None)
        record_event(
            "folder.deleted", actor=user, mailbox=folder.mailbox, target=folder, details={"name": folder.name}
        )
        folder.delete()


def do_purge_orphan_messages(*, limit: int = 500) -> int:
    """Delete messages no BAL holds any more (a deleted BAL's last copies) with their blobs, in batches.

    Their content was already unreadable (the BAL key is gone); this frees the space. Messages still needed
    by a pending delivery are kept.
    """
    from apps.messaging.constants import TRANSIT_STATES

    candidates = set(
        Message.objects.filter(copies__isnull=True)
        .exclude(deliveries__state__in=TRANSIT_STATES)
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return 0
    with transaction.atomic():
        names = _collect_orphans(candidates)
        record_event("message.orphans_purged", actor_label="plateforme", details={"count": len(candidates)})
    transaction.on_commit(lambda: _delete_blobs(names))
    return len(candidates)
