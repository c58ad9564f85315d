#!/usr/bin/env python3
"""IMAP benchmark: a live `ImapServer` (TLS, the production code path) over one BAL's inbox.

Dataset: the inbox benchmark's generator (bench/bench_inbox.py: French letters sealed like the services
seal them, blind-index tokens), in this benchmark's OWN database (`BENCH_IMAP_DATABASE_URL`, default
mssante_bench_imap; never the inbox benchmark's): the UID trigger numbers the copies as COPY writes them.
Measures, with imaplib over TLS in one logged-in session (the time is the client's: TLS, parsing, network
on loopback included):
- SELECT INBOX then UID FETCH of the newest 50 messages' ENVELOPE (one timed pair per round);
- UID SEARCH TEXT for the inbox benchmark's fixed queries (blind index: whole words and prefixes).
Dovecot side by side (issue 16) is not run by this version: the line says so.

    .venv/bin/python bench/bench_imap.py --size 1000000   # generation ~15-25 min once
    .venv/bin/python bench/bench_imap.py --smoke          # 5,000 messages
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from support import ensure_database, machine  # noqa: E402

OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_imap"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed(fn, *args) -> tuple[float, object]:  # noqa: ANN001
    started = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - started) * 1000, result


def measure(client: imaplib.IMAP4, rounds: int, queries: dict[str, str]) -> dict[str, list[float]]:
    def select_and_fetch() -> None:
        typ, data = client.select("INBOX")
        count = int(data[0])
        typ, data = client.fetch(f"{max(1, count - 49)}:{count}", "(UID ENVELOPE)")
        if typ != "OK" or len([d for d in data if isinstance(d, tuple) or d]) < min(50, count):
            raise SystemExit(f"bench: FETCH answered {typ}")

    results: dict[str, list[float]] = {"SELECT + FETCH ENVELOPE of the newest 50": []}
    select_and_fetch()  # warm: the folder's shared UID map is built once per process
    for _ in range(rounds):
        results["SELECT + FETCH ENVELOPE of the newest 50"].append(timed(select_and_fetch)[0])
    client.select("INBOX")

    def search(query: str) -> tuple[str, list]:
        client.literal = query.encode("utf-8")  # imaplib sends it as a literal: accents are 8-bit
        return client.uid("SEARCH", "CHARSET", "UTF-8", "TEXT")

    for label, query in queries.items():
        search(query)
        key = f"UID SEARCH TEXT, {label} « {query} »"
        results[key] = []
        for _ in range(rounds):
            elapsed, (typ, _data) = timed(search, query)
            if typ != "OK":
                raise SystemExit(f"bench: SEARCH answered {typ}")
            results[key].append(elapsed)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5,000 messages: proves the benchmark runs")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="generator processes")
    options = parser.parse_args()
    size, rounds = (5000, 15) if options.smoke else (options.size, options.rounds)
    url = os.environ.get("BENCH_IMAP_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    if url.rstrip("/").endswith("/mssante_bench_inbox"):
        raise SystemExit("bench: refusing to write into the inbox benchmark's database")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "CELERY_QUEUE_PREFIX": "bench-imap-",
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MSSANTE_DEV", None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    load = machine()
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < size * 6_000:
        raise SystemExit(f"bench: {free // 2**30} GiB free, about {size * 6_000 // 2**30} GiB needed")
    ensure_database(url, env)
    import django

    django.setup()
    import bench_inbox

    from apps.accounts.app_passwords import do_create_app_password
    from apps.gateway.pki import CertificateAuthority
    from apps.imap.server import ImapConfig, ImapServer, tls_context
    from apps.mailboxes.keys import mailbox_key

    bench_inbox.ADDRESS = "bench.imap@demo.mssante.fr"
    mailbox = bench_inbox.the_bal()
    report = [f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]
    if bench_inbox.dataset_state(size) != f"{bench_inbox.SEED}/{size}":
        from bench.datasets.french import Correspondence

        key = mailbox_key(mailbox.pk)[1]
        bench_inbox.check_tokens_against_service(
            bench_inbox.TokenBook(key), key, Correspondence(bench_inbox.SEED)
        )
        print(f"bench: generating {size:,} messages …", flush=True)
        seconds = bench_inbox.generate(size, mailbox, options.processes)
        report.append(f"- Generated {size:,} messages in {seconds:.0f} s (COPY; UIDs by the trigger)")
    else:
        report.append(f"- Dataset reused: {size:,} messages")
    secret = do_create_app_password(mailbox.owner, label="bench")[1]
    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority(Path(tmp) / "ca")
        cert = ca.issue_server("imap", "localhost")
        config = ImapConfig(host="127.0.0.1", port=0, imaps_port=0,
                            tls_context=tls_context(str(cert.cert_path), str(cert.key_path)))  # fmt: skip
        import ssl

        with ImapServer(config).running() as server:
            context = ssl.create_default_context(cafile=str(ca.cert_path))
            client = imaplib.IMAP4_SSL("localhost", server.imaps_port, ssl_context=context, timeout=120)
            client.login(mailbox.owner.email, secret)
            results = measure(client, rounds, bench_inbox.search_cases())
            client.logout()
    command = "bench/bench_imap.py" + (" --smoke" if options.smoke else f" --size {size}")
    report.append(
        f"- Command: `.venv/bin/python {command}`; imaplib over TLS on loopback, one session, {rounds} rounds"
    )
    report += ["", "| Request | n | p50 | p95 | p99 | target p95 |", "|---|---:|---:|---:|---:|---:|"]
    for label, values in results.items():
        target = "300 ms" if "SEARCH" in label else "50 ms"
        report.append(
            f"| {label} | {len(values)} | {statistics.median(values):.1f} ms | "
            f"**{percentile(values, 0.95):.1f} ms** | {percentile(values, 0.99):.1f} ms | {target} |"
        )
    report.append("- Dovecot 2.3 side by side: not run by this version of the benchmark (no ratio yet).")
    report.append(
        "- 200 IDLE sessions with deposits at 50/s: not run by this version (push tested in tests/imap)."
    )
    text = "\n".join(report)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"imap{'_smoke' if options.smoke else ''}.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
