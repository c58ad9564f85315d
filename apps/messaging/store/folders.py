"""The system folders every BAL has, created on first use."""

from __future__ import annotations

from collections.abc import Iterable

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
# Folders this process created in a transaction that has not committed (yet): never cached (see keys.py).
_pending: set[int] = set()


def system_folder(mailbox_id: int, role: str) -> Folder:
    folder = Folder.objects.filter(mailbox_id=mailbox_id, role=role).first()
    return folder if folder is not None else ensure_folders(mailbox_id)[role]


def system_folder_id(mailbox_id: int, role: str) -> int:
    """Cached per process: system folders live as long as their BAL (never renamed, moved or deleted).
    Never cached from a transaction that may still roll back the folder's creation (see mailboxes.keys)."""
    from apps.mailboxes.keys import in_open_transaction

    key = (mailbox_id, role)
    found = _ids.get(key)
    if found is not None:
        return found
    folder = Folder.objects.filter(mailbox_id=mailbox_id, role=role).first()
    if folder is None:
        folder = ensure_folders(mailbox_id)[role]
        if in_open_transaction():
            _pending.add(mailbox_id)
            transaction.on_commit(lambda: _committed(mailbox_id))
            return folder.pk
    if mailbox_id not in _pending or not in_open_transaction():
        _pending.discard(mailbox_id)
        _store(key, folder.pk)
    return folder.pk


def preload_system_folders(mailbox_ids: Iterable[int]) -> None:
    """Cache the system folders of the BALs whose inbox is not cached yet, with one query (a batch deposit
    to a hundred BALs read them one query each). Outside a transaction only, as `system_folder_id`."""
    from apps.mailboxes.keys import in_open_transaction

    if in_open_transaction():
        return
    wanted = [m for m in mailbox_ids if (m, FolderRole.INBOX) not in _ids and m not in _pending]
    if not wanted:
        return
    rows = Folder.objects.filter(mailbox_id__in=wanted).exclude(role=FolderRole.CUSTOM)
    for mailbox_id, role, folder_id in rows.values_list("mailbox_id", "role", "pk"):
        _store((mailbox_id, role), folder_id)


def _committed(mailbox_id: int) -> None:
    _pending.discard(mailbox_id)
    rows = Folder.objects.filter(mailbox_id=mailbox_id).exclude(role=FolderRole.CUSTOM)
    for folder_id, role in rows.values_list("pk", "role"):
        _store((mailbox_id, role), folder_id)


def _store(key: tuple[int, str], folder_id: int) -> None:
    if len(_ids) > 50_000:
        _ids.clear()
    _ids[key] = folder_id


def clear_cache() -> None:
    _ids.clear()
    _pending.clear()
