"""Collecting blob files a crash left without a row (issue 17 point 4; docs/operations.md, "Ménage").

A blob file is written (temporary file, fsync, rename) before the row naming it commits (ADR 0007/0009): a
crash between the two leaves a file no row names, encrypted under a key nobody kept, unreadable and
useless. Such a file is removed only once it is older than BLOB_GRACE_HOURS (24 by default): longer than
any write takes, and longer than the longest backup, so a backup that copied the database before the row
committed and the store after never misses a file its rows name. Safe against concurrent writes: a file
being written is a young `.part`, a file just renamed is young too, and a name is looked up in every table
that names blobs right before the file goes.

Which tables name blobs: by convention (ADR 0014) a blob name is stored in a CharField called `blob` or
ending with `_blob`, in any app (messages, attachments, drafts, the inbound spool, patient documents); they
are found at run time, so messaging does not import the apps above it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models

from apps.messaging.store import blobs

logger = logging.getLogger(__name__)
CHUNK = 500


def referencing_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field) holding blob names, following the naming convention."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField) and (field.name == "blob" or field.name.endswith("_blob"))
    ]


def grace_seconds() -> float:
    return float(getattr(settings, "BLOB_GRACE_HOURS", 24)) * 3600


def _old_files(root: Path, cutoff: float) -> Iterator[Path]:
    if not root.exists():
        return
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path
        except FileNotFoundError:  # removed meanwhile (a delete, another collector)
            continue


def do_collect_orphan_blobs(*, now: float | None = None) -> int:
    """Remove blob files older than the grace period that no row names; returns how many went."""
    root = blobs.store_dir()
    cutoff = (now if now is not None else time.time()) - grace_seconds()
    removed = 0
    batch: list[tuple[str, Path]] = []
    for path in _old_files(root, cutoff):
        if path.name.endswith(".part"):  # a writer that died mid-blob: never renamed, never named
            path.unlink(missing_ok=True)
            removed += 1
            continue
        batch.append((path.relative_to(root).as_posix(), path))
        if len(batch) >= CHUNK:
            removed += _remove_unnamed(batch)
            batch = []
    if batch:
        removed += _remove_unnamed(batch)
    if removed:
        logger.warning("blob store: removed %d file(s) no row names (older than the grace period)", removed)
    return removed


def _remove_unnamed(batch: list[tuple[str, Path]]) -> int:
    names = [name for name, _ in batch]
    named: set[str] = set()
    for model, field in referencing_fields():
        named.update(model._default_manager.filter(**{f"{field}__in": names}).values_list(field, flat=True))
    removed = 0
    for name, path in batch:
        if name not in named:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
