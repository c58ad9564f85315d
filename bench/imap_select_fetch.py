#!/usr/bin/env python3
"""SELECT + FETCH ENVELOPE of the newest 50, ours and Dovecot's, back to back with many rounds (issue 16):
the bench's measure (bench/bench_imap.py) split into SELECT and FETCH, on the database and the Maildir that
`bench_imap.py` prepared (`--size N` or `--smoke`); Dovecot's index must already exist (one bench run).

    BENCH_IMAP_DATABASE_URL=postgres://…/mssante_bench_imap_1m ROUNDS=300 \\
        .venv/bin/python bench/imap_select_fetch.py [ours] [dovecot]
"""

from __future__ import annotations

import imaplib
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from support import bench_pki, imap_client, local_imap, use_imap_bench_database  # noqa: E402 (bench/ is on the path above)

use_imap_bench_database()
ROUNDS = int(os.environ.get("ROUNDS", "300"))


def rounds(client: imaplib.IMAP4, count: int) -> str:
    selects, fetches, totals = [], [], []

    def one() -> tuple[float, float]:
        started = time.perf_counter()
        _typ, data = client.select("INBOX")
        selected = time.perf_counter()
        newest = int(data[0])
        typ, data = client.fetch(f"{max(1, newest - 49)}:{newest}", "(UID ENVELOPE)")
        if typ != "OK" or len(data) < min(50, newest):
            raise SystemExit(f"FETCH answered {typ}")
        return (selected - started) * 1000, (time.perf_counter() - selected) * 1000

    for _ in range(5):  # warm
        one()
    for _ in range(count):
        select, fetch = one()
        selects.append(select)
        fetches.append(fetch)
        totals.append(select + fetch)
    totals.sort()
    p95 = totals[min(len(totals) - 1, round(0.95 * (len(totals) - 1)))]
    return (
        f"SELECT p50 {statistics.median(selects):.2f} ms | FETCH p50 {statistics.median(fetches):.2f} ms | "
        f"SELECT + FETCH p50 {statistics.median(totals):.2f} ms, p95 {p95:.2f} ms ({count} rounds)"
    )


def main() -> int:
    import django

    django.setup()
    import bench_imap
    import bench_inbox
    import imap_dovecot
    from django.db import connection

    from apps.accounts.app_passwords import do_create_app_password
    from apps.accounts.models import AppPassword

    wanted = set(sys.argv[1:]) or {"ours", "dovecot"}
    bench_inbox.ADDRESS = "bench.imap@demo.mssante.fr"
    mailbox = bench_inbox.the_bal()
    AppPassword.objects.filter(user=mailbox.owner, label="select-fetch").delete()
    secret = do_create_app_password(mailbox.owner, label="select-fetch")[1]
    connection.close()
    print(f"load average {os.getloadavg()[0]:.2f}")
    with bench_pki() as (ca, cert):
        if "ours" in wanted:
            with local_imap(cert) as server:
                client = imap_client(server.imaps_port, str(ca.cert_path))
                client.login(mailbox.owner.email, secret)
                time.sleep(0.5)  # the push listener connects
                print("ours    ", rounds(client, ROUNDS))
                client.logout()
        if "dovecot" in wanted:
            ranges, scale = bench_imap.dataset_ranges()
            root, _made = imap_dovecot.prepare_maildir(
                ranges, scale, bench_inbox.ADDRESS, bench_inbox.SEED, 2
            )
            with imap_dovecot.instance(root, str(cert.cert_path), str(cert.key_path)) as port:
                client = imap_client(port, str(ca.cert_path))
                client.login("bench", "bench")
                client.select("INBOX")
                print("dovecot ", rounds(client, ROUNDS))
                client.logout()
    return 0


if __name__ == "__main__":
    sys.exit(main())
