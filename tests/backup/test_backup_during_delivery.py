"""A backup taken while mail is being delivered (and deleted) restores to a consistent state."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.audit.services import do_seal_pending
from apps.backup.models import RunStatus
from apps.backup.verify import do_verify_backup
from apps.messaging.models import MessageCopy
from apps.messaging.webmail.services import do_delete_copies, do_purge_orphan_messages
from tests.backup.support import backup
from tests.messaging.helpers import pdf_part, send

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _deliver_until(stop: threading.Event, sent: list, alice_bal, cardio_bal, dr_alice, errors: list) -> None:
    try:
        while not stop.is_set():
            message = send(
                alice_bal,
                dr_alice,
                [cardio_bal.address],
                subject=f"n° {len(sent)}",
                text="corps",
                attachments=[pdf_part()],
            )
            sent.append(message.pk)
            if len(sent) % 3 == 0:  # deleting too: a released file must outlive the backup's copy
                for mailbox in (alice_bal, cardio_bal):
                    copies = list(MessageCopy.objects.filter(message_id=sent[-2], mailbox=mailbox))
                    do_delete_copies(copies, user=dr_alice)
                do_purge_orphan_messages()
            do_seal_pending()
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        connection.close()


def test_a_backup_taken_during_deliveries_restores_consistently(
    backup_settings, gpg_keys, scratch_db, tmp_path, alice_bal, cardio_bal, dr_alice
):
    backup_settings.MESSAGE_INLINE_MAX_BYTES = 0  # every blob a file: the dump and the store must agree
    stop, sent, errors = threading.Event(), [], []
    worker = threading.Thread(
        target=_deliver_until, args=(stop, sent, alice_bal, cardio_bal, dr_alice, errors)
    )
    worker.start()
    try:
        while len(sent) < 3 and worker.is_alive():
            stop.wait(0.05)
        backup(tmp_path / "backup")
        during = len(sent)
        while len(sent) < during + 2 and worker.is_alive():  # deliveries went on after the backup too
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors

    run = do_verify_backup(
        tmp_path / "backup",
        say=lambda line: None,
        secret_key=str(gpg_keys.secret),
        scratch_db=scratch_db,
        sample=None,
    )
    assert run.status == RunStatus.OK, run.report
    assert "comptes identiques au manifeste" in run.report and "chaîne de sceaux valide" in run.report
