"""The system folders every BAL has, created on first use."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.messaging.models import SYSTEM_FOLDERS, Folder, FolderRole

_POSITIONS = {role: index for index, role in enumerate(SYSTEM_FOLDERS)}


def ensure_folders(mailbox_id: int) -> dict[str, Folder]:
    """The BAL's system folders by role, creating the missing ones (race-safe)."""
    folders = {
        f.role: f for f in Folder.objects.filter(mailbox_id=mailbox_id).exclude(role=FolderRole.CUSTOM)
    }
    for role in SYSTEM_FOLDERS:
        if role in folders:
            continue
        try:
            with transaction.atomic():
                folders[role] = Folder.objects.create(
                    mailbox_id=mailbox_id, role=role, name=FolderRole(role).label, position=_POSITIONS[role]
                )
        except IntegrityError:
            folders[role] = Folder.objects.get(mailbox_id=mailbox_id, role=role)
    return folders


def system_folder(mailbox_id: int, role: str) -> Folder:
    folder = Folder.objects.filter(mailbox_id=mailbox_id, role=role).first()
    return folder if folder is not None else ensure_folders(mailbox_id)[role]
