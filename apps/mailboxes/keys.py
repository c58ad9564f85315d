"""The BAL keys of encryption at rest: created on first use, cached per process, destroyed with the BAL.

`mailbox_key(mailbox_id)` is the one way messaging gets a BAL key. The cache holds unwrapped keys for a
short time only (a deleted BAL's key must stop working within `_TTL` seconds in other processes; in this
process `forget_mailbox_key` drops it at once).
"""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction

from apps.crypto import keys as crypto_keys
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.models import MailboxKey

_TTL = 30.0
_cache: dict[int, tuple[float, int, bytes]] = {}


class MailboxKeyDestroyed(DecryptionError):
    """The BAL's key no longer exists (BAL deleted): its copies can never be read again."""


def _create(mailbox_id: int) -> tuple[int, bytes]:
    key = crypto_keys.new_mailbox_key()
    wrapped = crypto_keys.wrap_mailbox_key(key, mailbox_id=mailbox_id)
    try:
        with transaction.atomic():
            MailboxKey.objects.create(mailbox_id=mailbox_id, version=1, wrapped=wrapped)
    except IntegrityError:  # another process created it first: use theirs
        return _load(mailbox_id, create=False)
    return 1, key


def _load(mailbox_id: int, *, create: bool) -> tuple[int, bytes]:
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
    return version, crypto_keys.unwrap_mailbox_key(bytes(wrapped), mailbox_id=mailbox_id)


def mailbox_key(mailbox_id: int, *, create: bool = True) -> tuple[int, bytes]:
    """(version, key) of the BAL's current key; creates it on first use unless `create=False`."""
    now = time.monotonic()
    hit = _cache.get(mailbox_id)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    version, key = _load(mailbox_id, create=create)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[mailbox_id] = (now + _TTL, version, key)
    return version, key


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
