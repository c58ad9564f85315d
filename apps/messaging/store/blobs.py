"""The encrypted blob store: raw MIME messages and attachments, written durably.

Blobs hold ciphertext only (apps.crypto.stream); their names are random, never derived from content.
A blob up to MESSAGE_INLINE_MAX_BYTES (the usual letter with a PDF or two) is a row of `StoredBlob`, written
on the caller's database connection: durable when the caller's transaction commits, which is also when the
row naming it commits, with PostgreSQL's WAL flush shared by concurrent commits (a file costs two fsyncs
and a journal commit of the file system: 3 to 10 ms here, against under 1 ms). A larger blob is a file:
written to a temporary file in its directory, fsync'd, renamed into place and the directory fsync'd, so a
crash leaves either the whole blob or nothing — before the row naming it commits. Both kinds share one
name space; readers and deleters need not know which kind a name is (docs/decisions/0014).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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


class _Buffered:
    """What `writer` hands out: bytes stay in memory up to the inline limit, then go to the file."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: BinaryIO | None = None
        self.temp: Path | None = None

    def write(self, data: Any) -> int:
        if self.file is None and self.size + len(data) > self.limit:
            self._spill()
        if self.file is not None:
            return self.file.write(data)
        self.chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def _spill(self) -> None:
        final = path_of(self.name)
        _ensure_dir(final.parent)
        self.temp = final.with_name(final.name + ".part")
        try:
            self.file = open(self.temp, "wb")  # noqa: SIM115 (closed by writer on every path)
        except FileNotFoundError:  # the store was emptied under us (an operator, a test): make it again
            _known_dirs.clear()
            _ensure_dir(final.parent)
            self.file = open(self.temp, "wb")  # noqa: SIM115
        for chunk in self.chunks:
            self.file.write(chunk)
        self.chunks = []

    def commit(self) -> None:
        if self.file is None:
            from apps.messaging.models import StoredBlob
            from mssante_lib import fastsql

            row = StoredBlob(name=self.name, data=b"".join(self.chunks))
            deferred = _deferred_rows.get()
            if deferred is not None:  # `rows_together`: inserted with the others, in the same transaction
                deferred.append(row)
                return
            fastsql.insert([row])
            return
        final = path_of(self.name)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, final)  # type: ignore[arg-type]
        _fsync_dir(final.parent)

    def abort(self) -> None:
        self.chunks = []
        if self.file is not None:
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()  # type: ignore[union-attr]


_deferred_rows: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("blob_rows", default=None)


@contextlib.contextmanager
def rows_together() -> Iterator[None]:
    """Inside a transaction: the blob rows written in the block are inserted in one statement at its end
    (the inbound batch writes one per message; ADR 0022). Nothing is inserted if the block raises."""
    from mssante_lib import fastsql

    rows: list[Any] = []
    token = _deferred_rows.set(rows)
    try:
        yield
    finally:
        _deferred_rows.reset(token)
    fastsql.insert(rows)


def inline_limit() -> int:
    return int(getattr(settings, "MESSAGE_INLINE_MAX_BYTES", 512 * 1024))


@contextlib.contextmanager
def writer(name: str) -> Iterator[Any]:
    """Write a blob durably; on any exception nothing appears (the partial file is removed)."""
    path_of(name)  # a bad name fails before anything is written
    handle = _Buffered(name, inline_limit())
    try:
        yield handle
        handle.commit()
    except BaseException:
        handle.abort()
        raise


def open_blob(name: str) -> BinaryIO:
    """The blob's ciphertext, to read and close (a file, or the row's bytes in memory)."""
    try:
        return open(path_of(name), "rb")  # noqa: SIM115 (the caller closes)
    except FileNotFoundError:
        from apps.messaging.models import StoredBlob

        row = StoredBlob.objects.filter(name=name).values_list("data", flat=True).first()
        if row is None:
            raise
        return io.BytesIO(bytes(row))


def delete_blob(name: str) -> None:
    """Delete at once: only for a blob no committed row ever named (a write undone); else `release_blob`."""
    if not name:
        return
    try:
        path_of(name).unlink()
    except FileNotFoundError:
        from apps.messaging.models import StoredBlob

        StoredBlob.objects.filter(name=name).delete()


def release_blob(name: str) -> None:
    """The row naming this blob was deleted (and committed): a blob row goes now, a file only after
    BLOB_GRACE_HOURS. A backup copies the files after its dump's snapshot: a file deleted at once could
    be named by a row of that dump and missing from the copy. Touching the file starts its grace period;
    the orphan collector deletes unreferenced files older than the grace (docs/decisions/0017)."""
    if not name:
        return
    try:
        os.utime(path_of(name))
    except FileNotFoundError:
        from apps.messaging.models import StoredBlob

        StoredBlob.objects.filter(name=name).delete()


def exists(name: str) -> bool:
    """Whether a blob of that name is stored, of either kind."""
    from apps.messaging.models import StoredBlob

    return bool(name) and (path_of(name).exists() or StoredBlob.objects.filter(name=name).exists())


def count_blobs() -> int:
    """How many blobs the store holds, of both kinds (tests: nothing left behind)."""
    from apps.messaging.models import StoredBlob

    files = sum(1 for path in store_dir().rglob("*") if path.is_file()) if store_dir().exists() else 0
    return files + StoredBlob.objects.count()
