"""Mail to back up: messages whose blobs are rows and messages whose blobs are files, in several BALs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.audit.services import do_seal_pending
from apps.backup.models import BackupRun, RunStatus
from apps.backup.services import do_backup
from apps.messaging.models import Message, StoredBlob
from apps.messaging.store import blobs
from tests.messaging.helpers import pdf_part, send


def fill(settings: Any, alice_bal: Any, cardio_bal: Any, pharmacy_bal: Any, dr_alice: Any) -> list[Message]:
    sent = [
        send(alice_bal, dr_alice, [cardio_bal.address], subject="Petit courrier", text="Bonjour, ligne."),
        send(
            alice_bal,
            dr_alice,
            [pharmacy_bal.address, cardio_bal.address],
            subject="Ordonnance",
            text="x",
            attachments=[pdf_part()],
        ),
    ]
    settings.MESSAGE_INLINE_MAX_BYTES = 0  # these blobs are files (what a message over 512 KiB gets)
    sent.append(
        send(
            alice_bal,
            dr_alice,
            [cardio_bal.address],
            subject="Gros compte rendu",
            text="y",
            attachments=[pdf_part("cr.pdf", b"%PDF-1.4\n" + b"z" * 200_000)],
        )
    )
    settings.MESSAGE_INLINE_MAX_BYTES = 512 * 1024
    do_seal_pending()
    assert StoredBlob.objects.exists() and any(blobs.path_of(m.raw_blob).exists() for m in sent)
    return sent


def backup(directory: Path) -> BackupRun:
    run = do_backup(directory, say=lambda line: None)
    assert run.status == RunStatus.OK, run.report
    return run
