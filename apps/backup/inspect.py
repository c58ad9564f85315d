"""Checks of a restored platform, run by `manage.py backup_inspect` in a child process whose DATABASE_URL,
MESSAGE_STORE_DIR and MASTER_KEYS point at the restored database, blob directory and the master keys given
to `backup_verify`. Running there, the platform's own readers (BAL keys, envelopes, blob streams, the
journal verifier) are exercised exactly as they would serve the restored data.

Returns plain data (JSON-able); the parent compares it with the manifest and writes the verdict.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.audit.verify import verify_chain
from apps.crypto.envelope import CryptoError
from apps.messaging.models import Attachment, MessageCopy, StoredBlob
from apps.messaging.store import blobs, content, storage

from .blobstore import blob_columns, live_files


def table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [row[0] for row in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 (names from the catalogue)
            counts[table] = int(cursor.fetchone()[0])
    return counts


def journal() -> dict[str, Any]:
    # Events still unsealed when the dump was taken are normal (the sealer runs every few seconds): the
    # chain of sealed events is what a restore must keep intact.
    result = verify_chain(check_unsealed=False)
    return {
        "ok": result.chain_ok,
        "checked": result.checked,
        "last_seq": result.last_seq,
        "break": result.first_break.message if result.first_break else "",
    }


def missing_blobs(limit: int = 20) -> dict[str, Any]:
    """Names rows reference that are neither blob rows nor files in the restored store."""
    files = set(live_files())
    stored = StoredBlob._meta.db_table
    missing: list[str] = []
    total = 0
    with connection.cursor() as cursor:
        for table, column in blob_columns():
            cursor.execute(
                f'SELECT DISTINCT t."{column}" FROM "{table}" t WHERE t."{column}" <> \'\' '  # noqa: S608
                f'AND NOT EXISTS (SELECT 1 FROM "{stored}" b WHERE b.name = t."{column}")'
            )
            for (name,) in cursor.fetchall():
                if name not in files:
                    total += 1
                    if len(missing) < limit:
                        missing.append(f"{table}.{column} = {name}")
    return {"count": total, "first": missing}


def _sampled_copy_ids(per_mailbox: int | None) -> list[int]:
    if per_mailbox is None:
        return list(MessageCopy.objects.order_by("id").values_list("id", flat=True))
    # The newest copy of each BAL (the likeliest to have been written while the backup ran), then random ones.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM (SELECT c.id, row_number() OVER (PARTITION BY c.mailbox_id "
            "ORDER BY c.id = newest.id DESC, random()) AS n FROM messaging_messagecopy c JOIN "
            "(SELECT mailbox_id, max(id) AS id FROM messaging_messagecopy GROUP BY mailbox_id) newest "
            "ON newest.mailbox_id = c.mailbox_id) AS ranked WHERE n <= %s ORDER BY id",
            [per_mailbox],
        )
        return [row[0] for row in cursor.fetchall()]


def _read_copy(copy: MessageCopy, notes: dict[str, int]) -> str | None:
    """None when every part opens and matches its recorded SHA-256; else what failed."""
    message = copy.message
    try:
        data_key = content.data_key_of_copy(copy)
        content.open_text(data_key, message.pk, "subject", message.subject_enc)
        content.open_text(data_key, message.pk, "text", message.body_text_enc)
        if message.raw_blob:
            digest = storage.sha256_of_chunks(
                storage.read_stream(message.pk, "raw", message.raw_blob, data_key)
            )
            if digest != message.sha256:
                return f"raw message SHA-256 {digest} differs from the recorded {message.sha256}"
        for attachment in Attachment.objects.filter(message_id=message.pk):
            raw_range = attachment.raw_range(message.raw_blob)
            if not attachment.blob and (raw_range is None or not message.raw_blob):
                # Nothing stored to read (synthetic benchmark rows): counted, not a restore failure.
                notes["attachments_without_content"] += 1
                continue
            chunks = storage.read_attachment(
                message.pk,
                attachment.position,
                attachment.blob,
                raw_range,
                data_key,
            )
            if storage.sha256_of_chunks(chunks) != attachment.sha256:
                return f"attachment {attachment.position}: SHA-256 differs from the recorded one"
    except (CryptoError, FileNotFoundError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def sample_messages(per_mailbox: int | None) -> dict[str, Any]:
    ids = _sampled_copy_ids(per_mailbox)
    failures: list[str] = []
    mailboxes: set[int] = set()
    file_blobs = row_blobs = 0
    notes = {"attachments_without_content": 0}
    for start in range(0, len(ids), 500):
        batch = MessageCopy.objects.filter(id__in=ids[start : start + 500]).select_related("message")
        for copy in batch:
            mailboxes.add(copy.mailbox_id)
            problem = _read_copy(copy, notes)
            if problem:
                failures.append(
                    f"copy {copy.pk} (message {copy.message_id}, BAL {copy.mailbox_id}): {problem}"
                )
            elif copy.message.raw_blob and blobs.path_of(copy.message.raw_blob).exists():
                file_blobs += 1
            elif copy.message.raw_blob:
                row_blobs += 1
    total_mailboxes = MessageCopy.objects.values("mailbox_id").distinct().count()
    return {
        "read": len(ids) - len(failures),
        "sampled": len(ids),
        "mailboxes": len(mailboxes),
        "mailboxes_with_copies": total_mailboxes,
        "file_blobs": file_blobs,
        "row_blobs": row_blobs,
        "failures": failures[:20],
        "failure_count": len(failures),
        **notes,
    }


def inspect(per_mailbox: int | None) -> dict[str, Any]:
    return {
        "counts": table_counts(),
        "journal": journal(),
        "missing_blobs": missing_blobs(),
        "messages": sample_messages(per_mailbox),
    }
