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


_ids: dict[tuple[int, str], int] = {}


def system_folder(mailbox_id: int, role: str) -> Folder:
    folder = Folder.objects.filter(mailbox_id=mailbox_id, role=role).first()
    return folder if folder is not None else ensure_folders(mailbox_id)[role]


def system_folder_id(mailbox_id: int, role: str) -> int:
    """Cached per process: system folders live as long as their BAL (never renamed, moved or deleted)."""
    key = (mailbox_id, role)
    found = _ids.get(key)
    if found is None:
        found = system_folder(mailbox_id, role).pk
        if len(_ids) > 50_000:
            _ids.clear()
        _ids[key] = found
    return found


def clear_cache() -> None:
    _ids.clear()
