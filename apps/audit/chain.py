"""The seal chain: how one journal event is turned into bytes and linked to the previous seal.

Shared by the sealer (services.do_seal_pending), the purge and the verifier (verify.py) so that the three can
never disagree on the canonical form. Changing anything here invalidates every existing seal: don't.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

# Seal of the (virtual) event number 0: the chain starts from it until a purge leaves an anchor.
GENESIS_SEAL = "0" * 64

# Every immutable column of AuditEvent, in the order `values_list` returns them for the sealer and verifier.
CHAIN_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "mailbox_id",
    "mailbox_label",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "details",
)

# The one PostgreSQL advisory lock held by whoever moves the chain head (sealer, purge): one at a time.
CHAIN_LOCK_ID = 0x4D5353_A0D17  # arbitrary constant, unique within this database


def canonical_bytes(row: dict[str, Any], seal_seq: int) -> bytes:
    """Sorted-key compact JSON of the event's immutable fields plus its place in the chain."""
    occurred_at: datetime = row["occurred_at"]
    payload = {name: row[name] for name in CHAIN_FIELDS}
    payload["occurred_at"] = occurred_at.astimezone(UTC).isoformat()
    payload["ip"] = str(row["ip"]) if row["ip"] is not None else None
    payload["seal_seq"] = seal_seq
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_seal(previous_seal: str, row: dict[str, Any], seal_seq: int) -> str:
    """HMAC-SHA256(AUDIT_SEAL_KEY, previous seal || canonical event): a changed row breaks the link."""
    message = previous_seal.encode("ascii") + canonical_bytes(row, seal_seq)
    return hmac.new(settings.AUDIT_SEAL_KEY.encode(), message, hashlib.sha256).hexdigest()
