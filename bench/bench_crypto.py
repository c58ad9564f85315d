#!/usr/bin/env python3
"""Encryption-at-rest benchmark: apps.crypto envelopes (100 KB blobs), key wraps and streams (50 MB).

Every figure is the best of several rounds, timed in CPU time of this process (`time.process_time`): the
operations are single-threaded and CPU-bound, and on a shared, loaded machine wall time would mostly measure
the other processes (the load average is printed with the table). References that explain the
ceiling: raw AES-256-GCM and SHA-256 on the same buffer (the stream functions hash the plaintext).
Prints a markdown block (also written to bench/out/crypto.md) for docs/benchmarks.md.

    .venv/bin/python bench/bench_crypto.py            # full size (under a minute)
    .venv/bin/python bench/bench_crypto.py --smoke    # tiny sizes, about a second
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from apps.crypto import keys  # noqa: E402
from apps.crypto.envelope import aad_for, open_, seal  # noqa: E402
from apps.crypto.stream import decrypt_stream, encrypt_stream  # noqa: E402

OUT = ROOT / "bench" / "out"
MB = 1_000_000


class NullSink:
    """Where decrypted/encrypted bytes go: measuring a BytesIO's reallocations would say nothing useful."""

    def write(self, data: bytes) -> int:
        return len(data)


def best_seconds(action: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best


def repeat(action: Callable[[], object], count: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            action()

    return run


def envelope_rows(blob_size: int, count: int, rounds: int) -> list[tuple[str, str, str]]:
    key, aad = keys.new_data_key(), aad_for("body", message=1)
    plaintext = os.urandom(blob_size)
    sealed = seal(plaintext, key, aad=aad)
    if open_(sealed, key, aad=aad) != plaintext:
        raise SystemExit("bench: envelope round trip failed")
    rows = []
    for name, action in (
        ("seal", lambda: [seal(plaintext, key, aad=aad) for _ in range(count)]),
        ("open_", lambda: [open_(sealed, key, aad=aad) for _ in range(count)]),
    ):
        seconds = best_seconds(action, rounds)
        rate = blob_size * count / seconds / MB
        rows.append(
            (f"envelope `{name}`, {blob_size // 1000} KB blobs", f"{rate:,.0f} MB/s", per_op(seconds, count))
        )
    return rows


def wrap_rows(count: int, rounds: int) -> list[tuple[str, str, str]]:
    ring = keys.MasterKeyRing.parse(keys.generate_master_key_entry("bench"))
    bal_key, data_key = keys.new_mailbox_key(), keys.new_data_key()
    bal_wrap = keys.wrap_mailbox_key(bal_key, mailbox_id=7, ring=ring)
    data_wrap = keys.wrap_data_key(data_key, bal_key, message_id=1, mailbox_id=7)
    actions = {
        "`wrap_mailbox_key`": lambda: keys.wrap_mailbox_key(bal_key, mailbox_id=7, ring=ring),
        "`unwrap_mailbox_key`": lambda: keys.unwrap_mailbox_key(bal_wrap, mailbox_id=7, ring=ring),
        "`wrap_data_key` (incl. HKDF)": lambda: keys.wrap_data_key(
            data_key, bal_key, message_id=1, mailbox_id=7
        ),
        "`unwrap_data_key` (incl. HKDF)": lambda: keys.unwrap_data_key(
            data_wrap, bal_key, message_id=1, mailbox_id=7
        ),
    }
    rows = []
    for name, action in actions.items():
        seconds = best_seconds(repeat(action, count), rounds)
        rows.append((name, f"{count / seconds:,.0f} ops/s", per_op(seconds, count)))
    return rows


def stream_rows(size: int, rounds: int) -> list[tuple[str, str, str]]:
    key, aad = keys.new_data_key(), aad_for("attachment", message=1, part=1)
    plaintext = os.urandom(size)
    rows = []
    for segment_size in (64 * 1024, 1024 * 1024):
        encrypted = io.BytesIO()
        encrypt_stream(io.BytesIO(plaintext), encrypted, key, aad=aad, segment_size=segment_size)
        ciphertext = encrypted.getvalue()
        label = f"{size // MB} MB, {segment_size // 1024} KiB segments"
        for name, action in (
            (
                "encrypt_stream",
                lambda s=segment_size: encrypt_stream(
                    io.BytesIO(plaintext), NullSink(), key, aad=aad, segment_size=s
                ),
            ),
            ("decrypt_stream", lambda c=ciphertext: decrypt_stream(io.BytesIO(c), NullSink(), key, aad=aad)),
        ):
            seconds = best_seconds(action, rounds)
            rows.append(
                (f"`{name}`, {label}", f"{size / seconds / MB:,.0f} MB/s", f"{seconds * 1000:,.0f} ms")
            )
    return rows


def reference_rows(size: int, rounds: int) -> list[tuple[str, str, str]]:
    plaintext, aead, nonce = os.urandom(size), AESGCM(os.urandom(32)), os.urandom(12)
    rows = []
    for name, action in (
        ("reference: AES-256-GCM one shot", lambda: aead.encrypt(nonce, plaintext, None)),
        ("reference: SHA-256", lambda: hashlib.sha256(plaintext).digest()),
    ):
        seconds = best_seconds(action, rounds)
        rows.append(
            (f"{name}, {size // MB} MB", f"{size / seconds / MB:,.0f} MB/s", f"{seconds * 1000:,.0f} ms")
        )
    return rows


def per_op(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:,.1f} µs/op"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove the script still runs")
    options = parser.parse_args()
    if options.smoke:
        blob, count, wraps, stream_size, rounds = 100_000, 20, 200, 2 * MB, 1
    else:
        blob, count, wraps, stream_size, rounds = 100_000, 2_000, 20_000, 50 * MB, 5
    rows = [
        *envelope_rows(blob, count, rounds),
        *wrap_rows(wraps, rounds),
        *stream_rows(stream_size, rounds),
        *reference_rows(stream_size, rounds),
    ]
    smoke_note = " (SMOKE: tiny sizes, figures meaningless)" if options.smoke else ""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}; "
        f"CPU time, best of {rounds} round(s){smoke_note}.",
        "",
        "| Operation | Throughput | Time |",
        "|---|---:|---:|",
        *(f"| {name} | {rate} | {time_} |" for name, rate, time_ in rows),
    ]
    report = "\n".join(lines)
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("crypto-smoke.md" if options.smoke else "crypto.md")).write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
