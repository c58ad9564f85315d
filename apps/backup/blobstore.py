"""The blob files of a backup: copied as they are (already AES-GCM ciphertext under the messages' data keys).

Blob files are immutable once renamed into place, written durably before the row naming them commits, and
deleted only `BLOB_GRACE_HOURS` after that row is gone (messaging.store.blobs.release_blob). So copying the
store *after* the dump's snapshot was taken finds every file a dumped row names; files made after the
snapshot come along as harmless orphans. The names each row expects are read in the dump's snapshot and
checked against what was copied, so a backup says so when the live store already misses a blob.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from django.apps import apps
from django.db import models
from psycopg import sql

from apps.messaging.models import StoredBlob
from apps.messaging.store import blobs

CHUNK = 1024 * 1024


def blob_columns() -> list[tuple[str, str]]:
    """(table, column) of every model field that names a blob: `blob` or `*_blob` character fields."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField) and (field.name == "blob" or field.name.endswith("_blob")):
                found.append((model._meta.db_table, str(field.column)))
    return sorted(found)


def expected_files(conn: psycopg.Connection) -> set[str]:
    """Blob names rows reference that are not database rows: they must be files (read in the snapshot)."""
    names: set[str] = set()
    stored = sql.Identifier(StoredBlob._meta.db_table)
    for table, column in blob_columns():
        query = sql.SQL(
            "SELECT DISTINCT t.{col} FROM {table} t WHERE t.{col} <> '' "
            "AND NOT EXISTS (SELECT 1 FROM {stored} b WHERE b.name = t.{col})"
        ).format(col=sql.Identifier(column), table=sql.Identifier(table), stored=stored)
        names.update(str(row[0]) for row in conn.execute(query))
    return names


def live_files(root: Path | None = None) -> Iterator[str]:
    """Names of the files in the store (temporary `.part` files of writes in progress left out)."""
    root = root or blobs.store_dir()
    if not root.is_dir():
        return
    for directory, _subdirs, files in os.walk(root):
        for file_name in files:
            if file_name.endswith(".part"):
                continue
            yield (Path(directory) / file_name).relative_to(root).as_posix()


def copy_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy with SHA-256 of the bytes copied; the target is fsync'd (a backup must survive a crash too)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return size, digest.hexdigest()


def copy_store(
    target_root: Path, report: Callable[[int, int], None], source_root: Path | None = None
) -> dict[str, tuple[int, str]]:
    """Copy every blob file into target_root; {name: (size, sha256)}. A file deleted while we walk (a
    discarded write, never referenced) is skipped."""
    source_root = source_root or blobs.store_dir()
    copied: dict[str, tuple[int, str]] = {}
    total = 0
    for name in live_files(source_root):
        try:
            copied[name] = copy_file(source_root / name, target_root / name)
        except FileNotFoundError:
            continue
        total += copied[name][0]
        report(len(copied), total)
    return copied


def restore_store(source_root: Path, target_root: Path, report: Callable[[int, int], None]) -> int:
    """Copy a backup's blobs into a store directory; returns how many."""
    count = total = 0
    if not source_root.is_dir():
        return 0
    for name in live_files(source_root):
        target = target_root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_root / name, target)
        count += 1
        total += target.stat().st_size
        report(count, total)
    return count
