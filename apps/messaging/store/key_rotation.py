"""Master key rotation for messaging's own wraps: the transit keys of messages still on their way (the
BAL keys are apps.mailboxes.keys'; messages and their per-BAL data-key wraps never change)."""

from __future__ import annotations

from apps.crypto import keys as crypto_keys
from apps.messaging.models import Message
from apps.messaging.store.content import TRANSIT_PURPOSE


def do_rewrap_transit_keys(ring: crypto_keys.MasterKeyRing) -> int:
    count = 0
    rows = Message.objects.filter(transit_key_wrap__isnull=False).values_list("pk", "transit_key_wrap")
    for pk, wrapped in rows.iterator():
        blob = bytes(wrapped or b"")
        if not crypto_keys.needs_rewrap(blob, ring=ring):
            continue
        key = crypto_keys.unwrap_transit_key(blob, purpose=TRANSIT_PURPOSE, object_id=str(pk), ring=ring)
        new = crypto_keys.wrap_transit_key(key, purpose=TRANSIT_PURPOSE, object_id=str(pk), ring=ring)
        # Conditional: a delivery that dropped the key meanwhile (message sent) keeps it dropped.
        count += Message.objects.filter(pk=pk, transit_key_wrap=blob).update(transit_key_wrap=new)
    return count
