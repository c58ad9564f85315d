"""Run by test_stream_memory in a fresh interpreter: encrypt then decrypt a generated stream, report memory.

A fresh process is what makes peak RSS meaningful (ru_maxrss never goes down, so inside the test process
an earlier test could hide a leak). Prints one JSON line; argv[1] = plaintext size, argv[2] = scratch file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import sys
import time
import tracemalloc

from apps.crypto.envelope import aad_for
from apps.crypto.stream import decrypt_stream, encrypt_stream

_PATTERN = os.urandom(1024 * 1024 + 17)  # odd length: no two segments of the stream line up alike


class GeneratedPlaintext(io.RawIOBase):
    """`size` bytes produced on demand (never held whole), hashed as they are handed out."""

    def __init__(self, size: int) -> None:
        self.remaining, self.position = size, 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self.remaining, len(_PATTERN) - self.position)
        chunk = memoryview(_PATTERN)[self.position : self.position + size]
        buffer[:size] = chunk
        self.sha256.update(chunk)
        self.remaining -= size
        self.position = (self.position + size) % len(_PATTERN)
        return size


class HashingSink:
    def __init__(self) -> None:
        self.size, self.sha256 = 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.sha256.update(data)
        return len(data)


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def main() -> None:
    size, scratch = int(sys.argv[1]), sys.argv[2]
    key, aad = os.urandom(32), aad_for("attachment", message=1, part=1)
    source = GeneratedPlaintext(size)
    rss_before = rss_kib()
    tracemalloc.start()
    started = time.perf_counter()
    with open(scratch, "wb") as dst:
        encrypted = encrypt_stream(source, dst, key, aad=aad)
    encrypt_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    middle = time.perf_counter()
    sink = HashingSink()
    with open(scratch, "rb") as src:
        decrypted = decrypt_stream(src, sink, key, aad=aad)
    decrypt_peak = tracemalloc.get_traced_memory()[1]
    ended = time.perf_counter()
    tracemalloc.stop()
    report = {
        "source_sha256": source.sha256.hexdigest(),
        "encrypt_sha256": encrypted.sha256,
        "decrypt_sha256": decrypted.sha256,
        "sink_sha256": sink.sha256.hexdigest(),
        "plaintext_bytes": sink.size,
        "ciphertext_bytes": encrypted.bytes_written,
        "file_bytes": os.path.getsize(scratch),
        "encrypt_traced_peak": encrypt_peak,
        "decrypt_traced_peak": decrypt_peak,
        "rss_growth_kib": rss_kib() - rss_before,
        "encrypt_seconds": middle - started,
        "decrypt_seconds": ended - middle,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
