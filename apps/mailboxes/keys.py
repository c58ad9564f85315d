"""The BAL keys of encryption at rest: created on first use, cached per process, destroyed with the BAL.

`mailbox_key(mailbox_id)` is the one way messaging gets a BAL key. The cache holds unwrapped keys for a
short time only (a deleted BAL's key must stop working within `_TTL` seconds in other processes; in this
process `forget_mailbox_key` drops it at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction

from apps.crypto import keys as crypto_keys
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.models import MailboxKey

_TTL = 30.0
_cache: dict[int, tuple[float, int, bytes]] = {}
# Keys this process created in a transaction that has not committed (yet): never served from the cache.
_pending: set[int] = set()


class MailboxKeyDestroyed(DecryptionError):
    """The BAL's key no longer exists (BAL deleted): its copies can never be read again."""


def _create(mailbox_id: int) -> tuple[int, bytes, bool]:
    key = crypto_keys.new_mailbox_key()
    wrapped = crypto_keys.wrap_mailbox_key(key, mailbox_id=mailbox_id)
    try:
        with transaction.atomic():
            MailboxKey.objects.create(mailbox_id=mailbox_id, version=1, wrapped=wrapped)
    except IntegrityError:  # another process created it first (and committed): use theirs
        return _load(mailbox_id, create=False)
    return 1, key, True


def _load(mailbox_id: int, *, create: bool) -> tuple[int, bytes, bool]:
    """(version, key, created here)."""
    row = (
        MailboxKey.objects.filter(mailbox_id=mailbox_id)
        .order_by("-version")
        .values_list("version", "wrapped")
        .first()
    )
    if row is None:
        if create:
            return _create(mailbox_id)
        raise MailboxKeyDestroyed(f"BAL {mailbox_id}: no key (deleted BAL, copies unreadable)")
    version, wrapped = row
    return version, crypto_keys.unwrap_mailbox_key(bytes(wrapped), mailbox_id=mailbox_id), False


def in_open_transaction() -> bool:
    """Inside a transaction that may still roll back. A test case's own wrapping transaction stands for
    autocommit (Django marks it `_from_testcase`): rows the code under test made are as good as committed
    once its own blocks have exited."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def mailbox_key(mailbox_id: int, *, create: bool = True) -> tuple[int, bytes]:
    """(version, key) of the BAL's current key; creates it on first use unless `create=False`."""
    now = time.monotonic()
    hit = _cache.get(mailbox_id)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    version, key, created = _load(mailbox_id, create=create)
    if created and in_open_transaction():
        # Made inside a transaction that may still roll back: caching it now would hand this process a
        # key the database never kept, and copies wrapped with it could never be opened anywhere else.
        _pending.add(mailbox_id)
        transaction.on_commit(lambda: _committed(mailbox_id, version, key))
    elif mailbox_id not in _pending or not in_open_transaction():
        _committed(mailbox_id, version, key)  # read back outside its making transaction: it was kept
    return version, key


def _committed(mailbox_id: int, version: int, key: bytes) -> None:
    _pending.discard(mailbox_id)
    _store(mailbox_id, version, key)


def _store(mailbox_id: int, version: int, key: bytes) -> None:
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[mailbox_id] = (time.monotonic() + _TTL, version, key)


def preload_mailbox_keys(mailbox_ids: Iterable[int]) -> None:
    """Cache the current keys of the BALs not cached (or about to expire) with one query: a batch deposit
    to a hundred BALs read them one query each. A BAL without a key is left to `mailbox_key`, which makes
    it. Outside a transaction only (what is read is then committed: the rule of `mailbox_key`)."""
    if in_open_transaction():
        return
    now = time.monotonic()
    wanted = [
        mailbox_id
        for mailbox_id in mailbox_ids
        if mailbox_id not in _pending and (mailbox_id not in _cache or _cache[mailbox_id][0] <= now)
    ]
    if not wanted:
        return
    rows = (
        MailboxKey.objects.filter(mailbox_id__in=wanted)
        .order_by("mailbox_id", "-version")
        .values_list("mailbox_id", "version", "wrapped")
    )
    seen: set[int] = set()
    for mailbox_id, version, wrapped in rows:
        if mailbox_id not in seen:  # its current (highest) version
            seen.add(mailbox_id)
            _store(mailbox_id, version, crypto_keys.unwrap_mailbox_key(bytes(wrapped), mailbox_id=mailbox_id))


def forget_mailbox_key(mailbox_id: int) -> None:
    _cache.pop(mailbox_id, None)


def destroy_mailbox_key(mailbox_id: int) -> int:
    """Delete every key version of the BAL (call inside the deleting service's transaction)."""
    forget_mailbox_key(mailbox_id)
    deleted, _ = MailboxKey.objects.filter(mailbox_id=mailbox_id).delete()
    transaction.on_commit(lambda: forget_mailbox_key(mailbox_id))
    return deleted


def clear_cache() -> None:
    _cache.clear()
    _pending.clear()


# --- Master key rotation ------------------------------------------------------------------------------------

REWRAP_BATCH = 500


def count_stale_mailbox_keys(ring: crypto_keys.MasterKeyRing) -> int:
    rows = MailboxKey.objects.values_list("wrapped", flat=True).iterator()
    return sum(1 for wrapped in rows if crypto_keys.needs_rewrap(bytes(wrapped), ring=ring))


def do_rewrap_mailbox_keys(ring: crypto_keys.MasterKeyRing, *, actor_label: str) -> int:
    """Rewrap every BAL key still under an older master key with the current one, in journaled batches.
    A row changed meanwhile (same key rewrapped by a concurrent run) is left as the other run wrote it."""
    from apps.audit.services import record_event

    rows = MailboxKey.objects.order_by("pk").values_list("pk", "mailbox_id", "wrapped")
    stale = [
        (pk, mailbox_id, bytes(w))
        for pk, mailbox_id, w in rows.iterator()
        if crypto_keys.needs_rewrap(bytes(w), ring=ring)
    ]
    for start in range(0, len(stale), REWRAP_BATCH):
        batch = stale[start : start + REWRAP_BATCH]
        with transaction.atomic():
            for pk, mailbox_id, wrapped in batch:
                new = crypto_keys.rewrap_mailbox_key(wrapped, mailbox_id=mailbox_id, ring=ring)
                MailboxKey.objects.filter(pk=pk, wrapped=wrapped).update(wrapped=new)
            record_event(
                "crypto.master_key_rotated",
                actor_label=actor_label,
                details={"rewrapped": len(batch), "kid": ring.current_kid},
            )
    return len(stale)
