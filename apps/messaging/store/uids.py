"""IMAP UIDs of message copies (issue 16, ADR 0023): strictly increasing per folder, stable across restarts.

A deposit allocates the UIDs of all its copies of one folder in ONE statement of its own transaction
(`UPDATE … SET uidnext = uidnext + n RETURNING`): the folder's row stays locked until the deposit commits,
so copies of a folder become visible in UID order (a client that saw UID n never later sees a smaller new
one). Folders are locked in id order, so two batches cannot deadlock on them. A copy that arrives in a
folder without a UID (any other path: a move, a bounce, code written later) gets one from the PostgreSQL
trigger installed by the `imap_uids` migration, one row at a time: correct everywhere, batched where it is
hot. UIDVALIDITY is the folder's id: never reused, so a folder deleted and re-created gets a new one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import connection

# Installed by the migration (PostgreSQL only). A copy inserted without a UID, or moved to another folder
# keeping its old one, gets the folder's next UID; every change of a folder's copies is announced on the
# `imap_folder` channel (apps/imap/push.py) once per statement and folder, at commit.
TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION messaging_copy_uid() RETURNS trigger AS $$
BEGIN
  IF NEW.uid IS NULL OR (TG_OP = 'UPDATE' AND NEW.folder_id <> OLD.folder_id AND NEW.uid = OLD.uid) THEN
    UPDATE messaging_folder SET uidnext = uidnext + 1 WHERE id = NEW.folder_id RETURNING uidnext - 1
      INTO NEW.uid;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_copy_uid ON messaging_messagecopy;
CREATE TRIGGER messaging_copy_uid BEFORE INSERT OR UPDATE OF folder_id ON messaging_messagecopy
  FOR EACH ROW EXECUTE FUNCTION messaging_copy_uid();
"""
# One notification per statement and kind: `n:<folder ids>` new copies, `u:<ids>` flags or state changed,
# `d:<ids>` copies left these folders (deleted or moved out). Sent at commit, never for a rollback.
NOTIFY_SQL = """
CREATE OR REPLACE FUNCTION messaging_copy_notify() RETURNS trigger AS $$
DECLARE changed text; gone text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT string_agg(DISTINCT folder_id::text, ',') INTO changed FROM new_rows;
    IF changed IS NOT NULL THEN PERFORM pg_notify('imap_folder', 'n:' || changed); END IF;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT string_agg(DISTINCT folder_id::text, ',') INTO gone FROM old_rows;
    IF gone IS NOT NULL THEN PERFORM pg_notify('imap_folder', 'd:' || gone); END IF;
  ELSE
    SELECT string_agg(DISTINCT o.folder_id::text, ',') INTO gone
      FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.folder_id <> o.folder_id;
    SELECT string_agg(DISTINCT folder_id::text, ',') INTO changed FROM new_rows;
    IF gone IS NOT NULL THEN PERFORM pg_notify('imap_folder', 'd:' || gone); END IF;
    IF changed IS NOT NULL THEN PERFORM pg_notify('imap_folder', 'u:' || changed); END IF;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_copy_notify_insert ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_notify_update ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_notify_delete ON messaging_messagecopy;
CREATE TRIGGER messaging_copy_notify_insert AFTER INSERT ON messaging_messagecopy
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_copy_notify();
CREATE TRIGGER messaging_copy_notify_update AFTER UPDATE ON messaging_messagecopy
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION messaging_copy_notify();
CREATE TRIGGER messaging_copy_notify_delete AFTER DELETE ON messaging_messagecopy
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_copy_notify();
"""
DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS messaging_copy_notify_insert ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_notify_update ON messaging_messagecopy;
DROP TRIGGER IF EXISTS messaging_copy_notify_delete ON messaging_messagecopy;
DROP FUNCTION IF EXISTS messaging_copy_notify();
DROP TRIGGER IF EXISTS messaging_copy_uid ON messaging_messagecopy;
DROP FUNCTION IF EXISTS messaging_copy_uid();
"""


def allocate(copies: Iterable[Any]) -> None:
    """Give unsaved copies their UIDs, one UPDATE per batch (inside the caller's transaction)."""
    by_folder: dict[int, list[Any]] = defaultdict(list)
    for copy in copies:
        if copy.uid is None:
            by_folder[copy.folder_id].append(copy)
    if not by_folder:
        return
    folder_ids = sorted(by_folder)
    counts = [len(by_folder[folder_id]) for folder_id in folder_ids]
    first = reserve(folder_ids, counts)
    for folder_id in folder_ids:
        for offset, copy in enumerate(by_folder[folder_id]):
            copy.uid = first[folder_id] + offset


def reserve(folder_ids: list[int], counts: list[int]) -> dict[int, int]:
    """{folder id: first reserved UID} for `counts[i]` UIDs in `folder_ids[i]` (ascending ids)."""
    values = ", ".join(["(%s, %s)"] * len(folder_ids))
    params: list[int] = [item for pair in zip(folder_ids, counts, strict=True) for item in pair]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Locks taken in id order (the ORDER BY of the locking subquery), then one update for all.
            cursor.execute(
                f"WITH wanted(id, n) AS (VALUES {values}), "  # noqa: S608 - placeholders only
                "locked AS (SELECT f.id FROM messaging_folder f JOIN wanted USING (id) "
                "ORDER BY f.id FOR UPDATE) "
                "UPDATE messaging_folder f SET uidnext = f.uidnext + wanted.n FROM wanted, locked "
                "WHERE f.id = wanted.id AND locked.id = f.id RETURNING f.id, f.uidnext - wanted.n",
                params,
            )
            return dict(cursor.fetchall())
        first = {}
        for folder_id, count in zip(folder_ids, counts, strict=True):
            cursor.execute(
                "UPDATE messaging_folder SET uidnext = uidnext + %s WHERE id = %s RETURNING uidnext - %s",
                [count, folder_id, count],
            )
            first[folder_id] = cursor.fetchone()[0]
        return first


def number_existing(batch: int = 1000, timings: list[float] | None = None) -> int:
    """Number the copies that have no UID yet (the migration), in committed batches of `batch` rows per
    folder in (received_at, id) order: no lock is held for more than one batch. Each batch continues from
    the last one's (received_at, id) on the (BAL, folder, received_at, id) keyset index, so a 1 M-copy
    folder costs the same per batch at its end as at its start. `timings` (the benchmark) receives each
    batch's locking transaction time in seconds. Returns the rows numbered. 1,000 rows a batch: on the
    bench database (155,000 copies, busy machine) batches of 5,000 held the folder row up to 4 s, each row
    costing an entry in every index of the copy (the UID's own index is built after the numbering)."""
    from apps.messaging.models import Folder, MessageCopy

    total = 0
    folder_ids = list(
        MessageCopy.objects.filter(uid__isnull=True).values_list("folder_id", flat=True).distinct()
    )
    for folder_id in folder_ids:
        mailbox_id = Folder.objects.filter(pk=folder_id).values_list("mailbox_id", flat=True).first()
        after: tuple[Any, int] | None = None
        while True:
            rows = _next_batch(mailbox_id, folder_id, after, batch)
            if not rows:
                break
            after = (rows[-1][1], rows[-1][0])
            ids = [pk for pk, _received, uid in rows if uid is None]
            if ids:
                started = time.perf_counter()
                _number(folder_id, ids)
                if timings is not None:
                    timings.append(time.perf_counter() - started)
                total += len(ids)
    return total


def _next_batch(mailbox_id: Any, folder_id: int, after: tuple[Any, int] | None, batch: int) -> list[Any]:
    """The folder's next `batch` copies after `after` in (received_at, id) order (numbered ones included:
    copies deposited during the migration already have their UID and are skipped by the caller)."""
    from django.db.models import Q

    from apps.messaging.models import MessageCopy

    copies = MessageCopy.objects.filter(mailbox_id=mailbox_id, folder_id=folder_id)
    if after is not None:
        received, pk = after
        if connection.vendor == "postgresql":  # a row comparison the keyset index answers directly
            copies = copies.extra(where=["(received_at, id) > (%s, %s)"], params=[received, pk])  # noqa: S610
        else:
            copies = copies.filter(Q(received_at__gt=received) | Q(received_at=received, id__gt=pk))
    return list(copies.order_by("received_at", "id").values_list("id", "received_at", "uid")[:batch])


def _number(folder_id: int, ids: list[int]) -> None:
    from django.db import transaction

    from apps.messaging.models import MessageCopy

    with transaction.atomic():
        first = reserve([folder_id], [len(ids)])[folder_id]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE messaging_messagecopy c SET uid = %s + o.n - 1 "
                    "FROM unnest(%s::bigint[]) WITH ORDINALITY AS o(id, n) WHERE c.id = o.id",
                    [first, ids],
                )
            return
        for offset, pk in enumerate(ids):
            MessageCopy.objects.filter(pk=pk).update(uid=first + offset)


# Flag changes stamped for IMAP push (apps/imap/selected.py): a copy whose flags or work-queue state change,
# or whose read mark changes for a member of an organisational BAL (CopyRead), gets the next value of one
# global sequence. The row-level WHEN keeps the trigger out of every other update (deposit, move, thread).
MODSEQ_SQL = """
CREATE SEQUENCE IF NOT EXISTS messaging_copy_modseq;
CREATE OR REPLACE FUNCTION messaging_copy_modseq() RETURNS trigger AS $$
BEGIN
  NEW.modseq := nextval('messaging_copy_modseq');
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_copy_modseq ON messaging_messagecopy;
CREATE TRIGGER messaging_copy_modseq BEFORE UPDATE ON messaging_messagecopy FOR EACH ROW
  WHEN (OLD.is_read IS DISTINCT FROM NEW.is_read OR OLD.is_flagged IS DISTINCT FROM NEW.is_flagged
        OR OLD.is_answered IS DISTINCT FROM NEW.is_answered
        OR OLD.imap_deleted IS DISTINCT FROM NEW.imap_deleted
        OR OLD.queue_status IS DISTINCT FROM NEW.queue_status
        OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id)
  EXECUTE FUNCTION messaging_copy_modseq();
CREATE OR REPLACE FUNCTION messaging_copyread_modseq() RETURNS trigger AS $$
BEGIN
  UPDATE messaging_messagecopy SET modseq = nextval('messaging_copy_modseq')
    WHERE id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.copy_id ELSE NEW.copy_id END);
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_copyread_modseq ON messaging_copyread;
CREATE TRIGGER messaging_copyread_modseq AFTER INSERT OR DELETE ON messaging_copyread FOR EACH ROW
  EXECUTE FUNCTION messaging_copyread_modseq();
"""
DROP_MODSEQ_SQL = """
DROP TRIGGER IF EXISTS messaging_copyread_modseq ON messaging_copyread;
DROP FUNCTION IF EXISTS messaging_copyread_modseq();
DROP TRIGGER IF EXISTS messaging_copy_modseq ON messaging_messagecopy;
DROP FUNCTION IF EXISTS messaging_copy_modseq();
DROP SEQUENCE IF EXISTS messaging_copy_modseq;
"""
