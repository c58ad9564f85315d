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


@contextlib.contextmanager
def writer(name: str) -> Iterator[BinaryIO]:
    """Write a blob durably; on any exception the partial file is removed and nothing appears."""
    final = path_of(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(final.name + ".part")
    handle = open(temp, "wb")  # noqa: SIM115 (closed below on every path)
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
