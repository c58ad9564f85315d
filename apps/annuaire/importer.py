"""Streaming import of an Annuaire Santé extraction (.txt or the published .zip), in constant memory.

The file is read as binary lines (exact byte progress, per-line UTF-8 decoding so one bad byte rejects one
line, not the run), parsed by formats.py and handed in batches to the database backend. The caller
(services.do_import_annuaire) owns the transaction and the audit event.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

from apps.annuaire.formats import Format, LineRejected, UnknownFormat, detect_format, parse_line
from apps.annuaire.import_result import Batch, ImportResult

MAX_DEACTIVATED_SHARE = 0.20
KNOWN_PREFIXES = tuple(fmt.value for fmt in Format)

ProgressCallback = Callable[[int, int, int], None]  # bytes read, total bytes, lines read
RejectCallback = Callable[[int, str], None]  # line number, reason


class DeactivationGuardTripped(Exception):
    """The run would deactivate too much of the directory (a truncated file?): nothing is changed."""

    def __init__(self, result: ImportResult, entity: str) -> None:
        self.result, self.entity = result, entity
        counts = result.counts[entity]
        super().__init__(
            f"Import interrompu, rien n'a été modifié : il désactiverait {counts.deactivated} "
            f"{_label(entity)} sur {counts.active_before} ({counts.deactivated_share:.0%}, plus de "
            f"{MAX_DEACTIVATED_SHARE:.0%}). Le fichier est peut-être tronqué ; relancez avec --force si "
            "cette baisse est attendue."
        )


def _label(entity: str) -> str:
    from apps.annuaire.import_result import ENTITY_LABELS

    return ENTITY_LABELS[entity]


@dataclass
class Source:
    stream: IO[bytes]
    total_bytes: int
    name: str


@contextlib.contextmanager
def open_source(path: str | os.PathLike) -> Iterator[Source]:
    """Open a .txt extraction, or the extraction inside the published .zip (detected by content)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Fichier introuvable : {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            member = _pick_member(archive)
            with archive.open(member) as stream:
                yield Source(stream, member.file_size, f"{path.name}:{member.filename}")
        return
    with path.open("rb") as stream:
        yield Source(stream, path.stat().st_size, path.name)


def _pick_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    texts = [info for info in archive.infolist() if info.filename.lower().endswith(".txt")]
    known = [info for info in texts if Path(info.filename).name.startswith(KNOWN_PREFIXES)]
    candidates = known or texts
    if len(candidates) != 1:
        raise UnknownFormat(
            f"L'archive doit contenir exactement une extraction .txt reconnue ({len(candidates)} trouvée(s))."
        )
    return candidates[0]


def _backend(fmt: Format):
    if connection.vendor == "postgresql":
        from apps.annuaire.import_pg import PostgresBackend

        return PostgresBackend(fmt)
    from apps.annuaire.import_sqlite import PortableBackend

    return PortableBackend(fmt)


def run_import(
    path: str | os.PathLike,
    *,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
    on_reject: RejectCallback | None = None,
    batch_size: int | None = None,
) -> ImportResult:
    """Import one file in the caller's transaction; raises DeactivationGuardTripped (caller rolls back)."""
    batch_size = batch_size or settings.ANNUAIRE_IMPORT_BATCH_SIZE
    with open_source(path) as source:
        header = source.stream.readline()
        fmt = detect_format(header.decode("utf-8-sig", errors="replace"))
        result = ImportResult(format=fmt.value, source=source.name, forced=force, on_reject=on_reject)
        backend = _backend(fmt)
        backend.start(result, source.total_bytes)
        _stream_lines(source, fmt, backend, result, batch_size, on_progress, len(header))
        backend.deactivate(result)
        _guard(result, force)
        backend.finish()
    return result


def _stream_lines(source, fmt, backend, result, batch_size, on_progress, read_bytes) -> None:
    """Parse in a helper thread while this thread waits on PostgreSQL: the two overlap (psycopg releases
    the GIL while waiting), which nearly halves a full import. Only this thread uses the DB connection."""
    batches: queue.Queue = queue.Queue(maxsize=1)  # bounded: at most three batches in memory
    producer = threading.Thread(
        target=_produce, args=(source, fmt, result, batch_size, read_bytes, batches), daemon=True
    )
    producer.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            batch, read = item
            backend.flush(batch, result)
            if on_progress:
                on_progress(read, source.total_bytes, result.lines)
    finally:
        _drain(batches)
        producer.join()


def _produce(source, fmt, result, batch_size, read_bytes, batches: queue.Queue) -> None:
    # Structures repeat on thousands of lines and only their first line counts: dropping the repeats here
    # (about 100,000 ids in the real files) spares PostgreSQL most of the structure staging and merging.
    structures_seen: set[str] = set()
    try:
        batch = Batch()
        for line_no, raw in enumerate(source.stream, start=2):
            read_bytes += len(raw)
            if not raw.strip():
                continue
            result.lines += 1
            try:
                parsed = parse_line(fmt, _decode(raw))
            except LineRejected as exc:
                result.reject(line_no, str(exc))
            else:
                if parsed.structure is not None:
                    if parsed.structure[0] in structures_seen:
                        parsed.structure = None
                    else:
                        structures_seen.add(parsed.structure[0])
                batch.add(line_no, parsed)
            if batch.size >= batch_size:
                batches.put((batch, read_bytes))
                batch = Batch()
        batches.put((batch, read_bytes))
        batches.put(None)
    except BaseException as exc:  # handed to the consuming thread, which raises it
        batches.put(exc)


def _drain(batches: queue.Queue) -> None:
    # If the consumer failed, unblock a producer waiting on a full queue so that it can finish.
    while True:
        try:
            if batches.get_nowait() is None:
                return
        except queue.Empty:
            return


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineRejected("encodage invalide (UTF-8 attendu)") from exc


def _guard(result: ImportResult, force: bool) -> None:
    if force:
        return
    for name, counts in result.counts.items():
        if counts.active_before and counts.deactivated_share > MAX_DEACTIVATED_SHARE:
            raise DeactivationGuardTripped(result, name)
