"""`manage.py rotate_master_key [--dry-run]`: rewrap every BAL key (and pending transit keys) under the
current master key, after MASTER_KEYS was given a new first entry (docs/decisions/0007-encryption-at-rest.md).

Only the small wraps change: messages, their per-BAL data-key wraps and attachments stay as they are. Run it
on one machine once every process has the new MASTER_KEYS; then check it reports 0 left and remove the old
key from MASTER_KEYS.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.audit.services import record_event
from apps.crypto import keys as crypto_keys
from apps.mailboxes.models import MailboxKey

BATCH = 500


class Command(BaseCommand):
    help = "Rechiffre les clés de BAL sous la clé maîtresse courante (rotation de MASTER_KEYS)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="compter sans rien modifier")

    def handle(self, *args: Any, **options: Any) -> None:
        ring = crypto_keys.master_key_ring()
        rows = MailboxKey.objects.order_by("pk").values_list("pk", "mailbox_id", "wrapped")
        stale = [
            (pk, mailbox_id, bytes(w))
            for pk, mailbox_id, w in rows.iterator()
            if crypto_keys.needs_rewrap(bytes(w), ring=ring)
        ]
        self.stdout.write(
            f"Clé maîtresse courante : {ring.current_kid} ; clés de BAL à rechiffrer : {len(stale)}"
        )
        if options["dry_run"] or not stale:
            return
        done = 0
        for start in range(0, len(stale), BATCH):
            with transaction.atomic():
                for pk, mailbox_id, wrapped in stale[start : start + BATCH]:
                    new = crypto_keys.rewrap_mailbox_key(wrapped, mailbox_id=mailbox_id, ring=ring)
                    MailboxKey.objects.filter(pk=pk, wrapped=wrapped).update(wrapped=new)
                    done += 1
                record_event(
                    "crypto.master_key_rotated",
                    actor_label="commande rotate_master_key",
                    details={"rewrapped": len(stale[start : start + BATCH]), "kid": ring.current_kid},
                )
        self.stdout.write(f"{done} clés de BAL rechiffrées sous « {ring.current_kid} ».")
        self._transit(ring)

    def _transit(self, ring: Any) -> None:
        from apps.messaging.content import TRANSIT_PURPOSE
        from apps.messaging.models import Message

        count = 0
        for pk, wrapped in (
            Message.objects.filter(transit_key_wrap__isnull=False)
            .values_list("pk", "transit_key_wrap")
            .iterator()
        ):
            blob = bytes(wrapped or b"")
            if crypto_keys.needs_rewrap(blob, ring=ring):
                key = crypto_keys.unwrap_transit_key(
                    blob, purpose=TRANSIT_PURPOSE, object_id=str(pk), ring=ring
                )
                new = crypto_keys.wrap_transit_key(key, purpose=TRANSIT_PURPOSE, object_id=str(pk), ring=ring)
                Message.objects.filter(pk=pk, transit_key_wrap=blob).update(transit_key_wrap=new)
                count += 1
        self.stdout.write(f"{count} clés de messages en cours de remise rechiffrées.")
