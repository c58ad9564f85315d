"""`manage.py rotate_master_key [--dry-run]`: rewrap every BAL key (and pending transit keys) under the
current master key, after MASTER_KEYS was given a new first entry (docs/decisions/0007-encryption-at-rest.md).

Only the small wraps change: messages, their per-BAL data-key wraps and attachments stay as they are. Run it
on one machine once every process has the new MASTER_KEYS; then check it reports 0 left and remove the old
key from MASTER_KEYS.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.crypto import keys as crypto_keys
from apps.mailboxes.keys import count_stale_mailbox_keys, do_rewrap_mailbox_keys
from apps.messaging.store.key_rotation import do_rewrap_transit_keys


class Command(BaseCommand):
    help = "Rechiffre les clés de BAL sous la clé maîtresse courante (rotation de MASTER_KEYS)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="compter sans rien modifier")

    def handle(self, *args: Any, **options: Any) -> None:
        ring = crypto_keys.master_key_ring()
        stale = count_stale_mailbox_keys(ring)
        self.stdout.write(f"Clé maîtresse courante : {ring.current_kid} ; clés de BAL à rechiffrer : {stale}")
        if options["dry_run"] or not stale:
            return
        done = do_rewrap_mailbox_keys(ring, actor_label="commande rotate_master_key")
        self.stdout.write(f"{done} clés de BAL rechiffrées sous « {ring.current_kid} ».")
        count = do_rewrap_transit_keys(ring)
        self.stdout.write(f"{count} clés de messages en cours de remise rechiffrées.")
