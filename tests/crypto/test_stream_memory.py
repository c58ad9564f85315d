"""apps.crypto.stream runs in constant memory: 200 MB through encryption and decryption in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.crypto.stream import ciphertext_size

ROOT = Path(__file__).resolve().parents[2]
SIZE = 200 * 1024 * 1024


@pytest.mark.slow
def test_it_encrypts_and_decrypts_200_mb_in_constant_memory(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "tests.crypto.memory_probe", str(SIZE), str(tmp_path / "attachment.enc")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["plaintext_bytes"] == SIZE
    assert report["ciphertext_bytes"] == report["file_bytes"] == ciphertext_size(SIZE)
    digests = {report[name] for name in ("source_sha256", "encrypt_sha256", "decrypt_sha256", "sink_sha256")}
    assert len(digests) == 1
    # Two 64 KiB segments plus small change; 1 MiB leaves room and is still 200x below the stream size.
    assert report["encrypt_traced_peak"] < 1024 * 1024, report
    assert report["decrypt_traced_peak"] < 1024 * 1024, report
    assert report["rss_growth_kib"] < 16 * 1024, report
