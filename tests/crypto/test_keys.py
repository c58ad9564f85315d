"""apps.crypto.keys: master key ring configuration, BAL key wraps, data key wraps, master key rotation."""

from __future__ import annotations

import base64
import os

import pytest

from apps.crypto import keys
from apps.crypto.envelope import DecryptionError
from apps.crypto.keys import MasterKeyError, MasterKeyRing


def entry(kid: str, key: bytes | None = None) -> str:
    return f"{kid}:{base64.b64encode(key or os.urandom(32)).decode()}"


def unwrap_all(wraps: dict[int, bytes], ring: MasterKeyRing) -> dict[int, bytes]:
    return {mid: keys.unwrap_mailbox_key(blob, mailbox_id=mid, ring=ring) for mid, blob in wraps.items()}


# --- configuration ------------------------------------------------------------------------------------------


def test_it_makes_the_first_listed_master_key_current_and_keeps_the_others_readable():
    old = os.urandom(32)
    ring = MasterKeyRing.parse(f"{entry('2026-11')}, {entry('2025-11', old)}")
    assert ring.current_kid == "2026-11"
    assert ring.kids == ["2026-11", "2025-11"]
    assert ring.get("2025-11") == old
    with pytest.raises(DecryptionError, match="'2024-01' is not configured"):
        ring.get("2024-01")


def test_it_accepts_urlsafe_base64_and_the_single_key_forms():
    key = bytes([0xFB, 0xFF] * 16)  # encodes with "+" and "/" in standard base64
    urlsafe = base64.urlsafe_b64encode(key).decode()
    assert MasterKeyRing.parse(f"k1:{urlsafe}").get("k1") == key
    assert MasterKeyRing.parse(master_key=f"prod1:{urlsafe}").current() == ("prod1", key)
    bare = MasterKeyRing.parse(master_key=base64.b64encode(key).decode())
    assert bare.current() == (keys.default_kid(key), key)
    # The derived kid is stable, so the list form can take over the same key later.
    assert MasterKeyRing.parse(entry(keys.default_kid(key), key)).current_kid == bare.current_kid


@pytest.mark.parametrize(
    ("master_keys", "message"),
    [
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "is 5 bytes, 32 expected"),
        (base64.b64encode(b"z" * 32).decode(), "must be 'kid:base64key'"),
        (f"{entry('k1', b'x' * 32)},{entry('k1', b'y' * 32)}", "twice"),
        ("bad kid!:" + base64.b64encode(b"x" * 32).decode(), "must match"),
    ],
)
def test_it_refuses_malformed_master_keys_without_echoing_them(master_keys, message):
    with pytest.raises(MasterKeyError, match=message) as caught:
        MasterKeyRing.parse(master_keys)
    secret = master_keys.rsplit(":", 1)[-1]
    assert secret not in str(caught.value)


def test_it_reads_master_keys_from_the_environment(fresh_ring, monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("MASTER_KEYS", f"{entry('new')},{entry('old', key)}")
    ring = fresh_ring()
    assert ring.current_kid == "new"
    assert ring.get("old") == key


def test_it_reads_the_master_key_from_a_file(fresh_ring, monkeypatch, tmp_path):
    key = os.urandom(32)
    secret_file = tmp_path / "master_key"
    secret_file.write_text(entry("file1", key) + "\n")
    monkeypatch.setenv("MASTER_KEY_FILE", str(secret_file))
    assert fresh_ring().current() == ("file1", key)


def test_it_prefers_django_settings_to_the_environment(fresh_ring, monkeypatch, settings):
    monkeypatch.setenv("MASTER_KEYS", entry("from-env"))
    settings.MASTER_KEYS = [entry("from-settings"), entry("older")]
    assert fresh_ring().kids == ["from-settings", "older"]


def test_it_falls_back_to_the_public_dev_key_only_under_dev_or_tests(fresh_ring, settings):
    settings.DEV, settings.TESTING = False, True
    assert fresh_ring().current() == (keys.DEV_KID, keys.DEV_MASTER_KEY)
    keys.reload_master_key_ring()
    settings.DEV, settings.TESTING = True, False
    assert fresh_ring().current_kid == keys.DEV_KID


def test_it_refuses_loudly_without_a_master_key_in_production(fresh_ring, settings):
    settings.DEV, settings.TESTING = False, False
    with pytest.raises(MasterKeyError, match="REFUSED: no master key"):
        fresh_ring()
    with pytest.raises(MasterKeyError, match="REFUSED"):
        keys.wrap_mailbox_key(keys.new_mailbox_key(), mailbox_id=1)


def test_it_refuses_the_public_dev_key_configured_in_production(fresh_ring, settings, monkeypatch):
    settings.DEV, settings.TESTING = False, False
    monkeypatch.setenv("MASTER_KEYS", f"{entry('real')},{entry('leftover', keys.DEV_MASTER_KEY)}")
    with pytest.raises(MasterKeyError, match="public development master key"):
        fresh_ring()


def test_it_generates_valid_entries_for_rotation():
    first, second = keys.generate_master_key_entry("2027-01"), keys.generate_master_key_entry("2027-01")
    assert first != second
    assert MasterKeyRing.parse(first).current_kid == "2027-01"
    with pytest.raises(MasterKeyError):
        keys.generate_master_key_entry("no spaces")


# --- BAL keys under the master key --------------------------------------------------------------------------


def test_it_wraps_and_unwraps_a_bal_key_under_the_current_master_key():
    ring = MasterKeyRing.parse(f"{entry('m2')},{entry('m1')}")
    bal_key = keys.new_mailbox_key()
    blob = keys.wrap_mailbox_key(bal_key, mailbox_id=17, ring=ring)
    assert keys.mailbox_wrap_kid(blob) == "m2"
    assert bal_key not in blob
    assert keys.unwrap_mailbox_key(blob, mailbox_id=17, ring=ring) == bal_key
    assert keys.unwrap_mailbox_key(blob, mailbox_id="17", ring=ring) == bal_key


def test_it_refuses_a_bal_key_wrap_moved_to_another_bal_or_altered():
    ring = MasterKeyRing.parse(entry("m1"))
    blob = keys.wrap_mailbox_key(keys.new_mailbox_key(), mailbox_id=17, ring=ring)
    with pytest.raises(DecryptionError, match="wrong BAL id or altered"):
        keys.unwrap_mailbox_key(blob, mailbox_id=18, ring=ring)
    for position in range(len(blob)):
        altered = bytearray(blob)
        altered[position] ^= 0x04
        with pytest.raises(DecryptionError):
            keys.unwrap_mailbox_key(bytes(altered), mailbox_id=17, ring=ring)
    with pytest.raises(DecryptionError, match="authentication failed"):
        keys.unwrap_mailbox_key(blob, mailbox_id=17, ring=MasterKeyRing([("m1", os.urandom(32))]))


def test_it_uses_the_process_ring_by_default(fresh_ring):
    bal_key = keys.new_mailbox_key()
    blob = keys.wrap_mailbox_key(bal_key, mailbox_id=3)
    assert keys.mailbox_wrap_kid(blob) == keys.DEV_KID
    assert keys.unwrap_mailbox_key(blob, mailbox_id=3) == bal_key


def test_it_rotates_the_master_key_by_rewrapping_bal_keys_only():
    old_entry, new_entry = entry("2025"), entry("2026")
    bal_keys = {mailbox_id: keys.new_mailbox_key() for mailbox_id in (1, 2, 3)}
    before = MasterKeyRing.parse(old_entry)
    wraps = {mid: keys.wrap_mailbox_key(key, mailbox_id=mid, ring=before) for mid, key in bal_keys.items()}

    # Step 1: deploy the new key first in the list; old wraps still open, and are flagged for rewrapping.
    during = MasterKeyRing.parse(f"{new_entry},{old_entry}")
    assert unwrap_all(wraps, during) == bal_keys
    assert all(keys.needs_rewrap(w, ring=during) for w in wraps.values())
    # Step 2: rewrap; the BAL keys themselves (and so every message) are unchanged.
    wraps = {mid: keys.rewrap_mailbox_key(w, mailbox_id=mid, ring=during) for mid, w in wraps.items()}
    assert {keys.mailbox_wrap_kid(w) for w in wraps.values()} == {"2026"}
    assert not any(keys.needs_rewrap(w, ring=during) for w in wraps.values())

    # Step 3: retire the old key; rewrapped BAL keys open, a wrap left behind does not.
    after = MasterKeyRing.parse(new_entry)
    assert unwrap_all(wraps, after) == bal_keys
    straggler = keys.wrap_mailbox_key(keys.new_mailbox_key(), mailbox_id=9, ring=before)
    with pytest.raises(DecryptionError, match="'2025' is not configured"):
        keys.unwrap_mailbox_key(straggler, mailbox_id=9, ring=after)


# --- data keys under a BAL key ------------------------------------------------------------------------------


def test_it_wraps_a_data_key_for_one_copy(data_key):
    bal_key = keys.new_mailbox_key()
    blob = keys.wrap_data_key(data_key, bal_key, message_id=100, mailbox_id=7, key_version=3)
    assert keys.data_wrap_key_version(blob) == 3
    assert data_key not in blob
    assert keys.unwrap_data_key(blob, bal_key, message_id=100, mailbox_id=7) == data_key


@pytest.mark.parametrize(("message_id", "mailbox_id"), [(101, 7), (100, 8), (7, 100)])
def test_it_refuses_a_data_key_wrap_moved_to_another_copy(data_key, message_id, mailbox_id):
    bal_key = keys.new_mailbox_key()
    blob = keys.wrap_data_key(data_key, bal_key, message_id=100, mailbox_id=7)
    with pytest.raises(DecryptionError, match="moved to another copy"):
        keys.unwrap_data_key(blob, bal_key, message_id=message_id, mailbox_id=mailbox_id)


def test_it_refuses_a_data_key_wrap_under_another_bal_key_or_altered(data_key):
    bal_key = keys.new_mailbox_key()
    blob = keys.wrap_data_key(data_key, bal_key, message_id=1, mailbox_id=1)
    with pytest.raises(DecryptionError):
        keys.unwrap_data_key(blob, keys.new_mailbox_key(), message_id=1, mailbox_id=1)
    for position in range(len(blob)):
        altered = bytearray(blob)
        altered[position] ^= 0x10
        with pytest.raises(DecryptionError):
            keys.unwrap_data_key(bytes(altered), bal_key, message_id=1, mailbox_id=1)
    with pytest.raises(DecryptionError, match="not a v1 data key wrap"):
        keys.unwrap_data_key(blob[:-1], bal_key, message_id=1, mailbox_id=1)


def test_it_rotates_a_bal_key_by_rewrapping_its_data_keys(data_key):
    old_key, new_key = keys.new_mailbox_key(), keys.new_mailbox_key()
    blob = keys.wrap_data_key(data_key, old_key, message_id=5, mailbox_id=2, key_version=1)
    version = keys.data_wrap_key_version(blob)
    unwrapped = keys.unwrap_data_key(blob, {1: old_key}[version], message_id=5, mailbox_id=2)
    rewrapped = keys.wrap_data_key(unwrapped, new_key, message_id=5, mailbox_id=2, key_version=2)
    assert keys.data_wrap_key_version(rewrapped) == 2
    assert keys.unwrap_data_key(rewrapped, new_key, message_id=5, mailbox_id=2) == data_key
    with pytest.raises(DecryptionError):
        keys.unwrap_data_key(rewrapped, old_key, message_id=5, mailbox_id=2)


def test_it_derives_a_distinct_search_key_per_bal():
    bal_a, bal_b = keys.new_mailbox_key(), keys.new_mailbox_key()
    search_a = keys.derive_search_key(bal_a)
    assert search_a == keys.derive_search_key(bal_a)
    assert search_a not in (bal_a, keys.derive_search_key(bal_b))
    assert len(search_a) == 32


def test_it_refuses_empty_ids_and_bad_key_sizes(data_key):
    bal_key = keys.new_mailbox_key()
    with pytest.raises(ValueError, match="mailbox_id must not be empty"):
        keys.wrap_data_key(data_key, bal_key, message_id=1, mailbox_id="")
    with pytest.raises(ValueError, match="message_id must not be empty"):
        keys.wrap_data_key(data_key, bal_key, message_id=None, mailbox_id=1)
    with pytest.raises(ValueError, match="BAL key must be 32 bytes"):
        keys.wrap_data_key(data_key, bal_key[:31], message_id=1, mailbox_id=1)
    with pytest.raises(ValueError, match="data key must be 32 bytes"):
        keys.wrap_data_key(data_key + b"x", bal_key, message_id=1, mailbox_id=1)
