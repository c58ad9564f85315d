#!/usr/bin/env python3
"""Per-message Python work of a submission: MIME writing and search tokens, in CPU microseconds.

The delivery benchmark (bench_delivery.py) needs <= 10 ms of CPU per message across submit + deliver; this
one isolates the two pure-Python steps of `do_submit_message` that do not depend on the database layout:

- `apps.messaging.store.mime.write_message` of the benchmark's ~100 KB message (a generated French letter from
  bench/datasets/french.py, its headers as services._headers builds them, and a distinct 72 KB PDF from
  bench/datasets/pdf.py), written to a sink that only counts bytes;
- `apps.messaging.store.search_index.build_tokens` of the same letter (body, subject, sender, recipient,
  attachment name), with PostgreSQL's French stemming (one round trip, as at submission), plus its two
  Python halves: `words` (folding + splitting) and the HMAC of ~130 tokens.

Every figure is the median of several rounds of process CPU time (`time.process_time`) divided by the
messages of a round: robust to the other processes on a shared machine. Database: `mssante_bench_mime`
(created and migrated if missing; nothing is written to it).

    .venv/bin/python bench/bench_mime.py            # 300 messages x 7 rounds (about a minute)
    .venv/bin/python bench/bench_mime.py --smoke    # 20 messages x 2 rounds, seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_mime"
PDF_BYTES = 72_000  # as bench_delivery.py: ~100 KB messages with the letter


class CountingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def median_us(action: Callable[[int], object], count: int, rounds: int) -> float:
    """Median over `rounds` of the CPU microseconds per call of action(i) for i in range(count)."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for index in range(count):
            action(index)
        samples.append((time.process_time() - started) / count * 1e6)
    return statistics.median(samples)


def setup(options: argparse.Namespace) -> None:
    url = os.environ.get("BENCH_MIME_DATABASE_URL", DEFAULT_DB)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MSSANTE_DEV", None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ensure_database(url, env)
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="20 messages x 2 rounds: proves it runs")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    count, rounds = (20, 2) if options.smoke else (options.messages, options.rounds)
    load = machine()
    setup(options)

    from apps.messaging.store import mime, search_index
    from bench.datasets.french import Correspondence
    from bench.datasets.pdf import make_pdf

    letters = Correspondence(seed=2026)
    now = datetime(2026, 12, 4, 21, 30, tzinfo=UTC)
    messages = []
    for number in range(count):
        letter = letters.letter(number)
        pdf = make_pdf(number, PDF_BYTES, title=letter.subject)
        name = letter.attachment_names[0] if letter.attachment_names else f"courrier-{number}.pdf"
        to = f"dest{number % 4}@ch-sud.mssante.fr"
        headers = [
            ("From", f"{letter.sender.name} <{letter.sender.address}>"),
            ("Sender", ""),
            ("To", to),
            ("Cc", ""),
            ("Subject", letter.subject),
            ("Date", mime.date_header(now)),
            ("Message-ID", f"<{number:08x}.bench@medecin.mssante.fr>"),
            ("In-Reply-To", ""),
            ("References", ""),
            ("Disposition-Notification-To", ""),
            ("X-MSS-NIL", "MSS-BENCH-0001"),
        ]
        part = mime.PartSource(name, "application/pdf", lambda pdf=pdf: [pdf])
        messages.append((letter, headers, part, to))
    key = bytes(range(32))
    sink = CountingSink()

    def write(index: int) -> None:
        letter, headers, part, _to = messages[index]
        mime.write_message(sink, headers=headers, text=letter.body, attachments=[part])

    def tokens(index: int) -> None:
        letter, _headers, part, to = messages[index]
        search_index.build_tokens(
            key, full_text=[letter.body], prefix_text=[letter.subject, part.filename, to]
        )

    def words(index: int) -> None:
        letter, _headers, part, to = messages[index]
        search_index.words(" ".join([letter.body, letter.subject, part.filename, to]))

    hashed = [
        sorted(search_index.lexemes(messages[i][0].body) | search_index.prefixes(messages[i][0].subject))
        for i in range(count)
    ]

    batched = getattr(search_index, "_tokens", None)  # absent before the batched HMACs

    def hmacs(index: int) -> None:
        if batched is not None:
            batched(key, "w", hashed[index])
            return
        for value in hashed[index]:
            search_index._token(key, "w", value)  # noqa: SLF001 — the hash build_tokens stores

    write(0)
    size = sink.size
    figures = {
        "write_message (100 KB message)": median_us(write, count, rounds),
        "build_tokens (with the PostgreSQL stemming round trip)": median_us(tokens, count, rounds),
        "  of which words() (fold + split)": median_us(words, count, rounds),
        "  of which HMAC of the tokens": median_us(hmacs, count, rounds),
    }
    per_message = statistics.mean(len(h) for h in hashed)
    print(f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- {count} messages x {rounds} rounds; message {size:,} bytes; ~{per_message:.0f} hashed tokens")
    print("\n| Step | CPU µs / message |\n|---|---:|")
    for label, value in figures.items():
        print(f"| {label} | {value:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
