"""The encrypted blob store: raw MIME messages and attachments, one file each, written durably.

Files hold ciphertext only (apps.crypto.stream); their names are random, never derived from content. A
write goes to a temporary file in the same directory, is fsync'd, renamed into place and the directory
fsync'd, so a crash leaves either the whole blob or nothing — and the database row naming it is committed
only after that.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

_NAME_CHARS = set("0123456789abcdef/")


def store_dir() -> Path:
    return Path(getattr(settings, "MESSAGE_STORE_DIR", Path(settings.VAR_DIR) / "messages"))


def new_name() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token[2:4]}/{token}"


def path_of(name: str) -> Path:
    if not name or not set(name) <= _NAME_CHARS or ".." in name or name.startswith("/"):
        raise ValueError(f"invalid blob name {name!r}")
    return store_dir() / name


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Directories known to exist durably (per process): most blobs land in an existing one, and asking the
# file system again for each blob showed in the delivery benchmark's profile.
_known_dirs: set[Path] = set()


def _ensure_dir(directory: Path) -> None:
    if directory in _known_dirs:
        return
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            created.mkdir()
        _fsync_dir(created.parent)  # the new entry survives a crash, like the blob inside it
    _known_dirs.add(directory)


@contextlib.contextmanager
def writer(name: str) -> Iterator[BinaryIO]:
    """Write a blob durably; on any exception the partial file is removed and nothing appears."""
    final = path_of(name)
    _ensure_dir(final.parent)
    temp = final.with_name(final.name + ".part")
    try:
        handle = open(temp, "wb")  # noqa: SIM115 (closed below on every path)
    except FileNotFoundError:  # the store was emptied under us (an operator, a test): make it again
        _known_dirs.clear()
        _ensure_dir(final.parent)
        handle = open(temp, "wb")  # noqa: SIM115
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temp, final)
        _fsync_dir(final.parent)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def open_blob(name: str) -> BinaryIO:
    return open(path_of(name), "rb")  # noqa: SIM115 (the caller closes)


def delete_blob(name: str) -> None:
    if name:
        with contextlib.suppress(FileNotFoundError):
            path_of(name).unlink()
