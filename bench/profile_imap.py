#!/usr/bin/env python3
"""Where one IMAP SELECT + FETCH ENVELOPE round spends its time (issue 16), on the database that
`bench/bench_imap.py --smoke` (or `--size N`) generated: a live `ImapServer` over TLS as in the benchmark,
each command timed from the client, every query of the last round logged with its duration, then the
database-thread work (`_select`, `_fetch`) timed in-process and profiled with cProfile.

    BENCH_IMAP_DATABASE_URL=postgres://…/mssante_bench_imap_smoke .venv/bin/python bench/profile_imap.py
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from support import bench_pki, imap_client, local_imap, use_imap_bench_database  # noqa: E402 (bench/ is on the path above)

use_imap_bench_database()
ENVELOPES = "(UID ENVELOPE)"


def main() -> int:  # noqa: PLR0915
    import django

    django.setup()
    import bench_inbox
    from django.db import connection

    import apps.imap.server as server_module
    from apps.accounts.app_passwords import do_create_app_password
    from apps.imap.commands import parse_command
    from apps.imap.handlers import mailbox as mailbox_handlers
    from apps.imap.handlers import messages as message_handlers

    bench_inbox.ADDRESS = "bench.imap@demo.mssante.fr"  # bench_imap.py's BAL
    mailbox = bench_inbox.the_bal()
    secret = do_create_app_password(mailbox.owner, label="profile")[1]
    connection.close()
    queries: list[tuple[float, str]] = []

    def log(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(((time.perf_counter() - started) * 1000, sql[:150]))

    plain = server_module._db  # noqa: SLF001

    def logged(fn, *args):  # noqa: ANN001, ANN002, ANN202
        with connection.execute_wrapper(log):
            return plain(fn, *args)

    server_module._db = logged  # noqa: SLF001
    rounds = int(os.environ.get("ROUNDS", "30"))
    print(f"load average {os.getloadavg()[0]:.1f}")
    with bench_pki() as (ca, cert), local_imap(cert) as server:
        client = imap_client(server.imaps_port, str(ca.cert_path))
        client.login(mailbox.owner.email, secret)

        def one_round() -> tuple[float, float]:
            started = time.perf_counter()
            _typ, data = client.select("INBOX")
            selected = time.perf_counter()
            count = int(data[0])
            client.fetch(f"{max(1, count - 49)}:{count}", ENVELOPES)
            return (selected - started) * 1000, (time.perf_counter() - selected) * 1000

        one_round()
        times = []
        for _ in range(rounds):
            queries.clear()
            times.append(one_round())
        client.logout()
    for index, label in enumerate(("SELECT", "FETCH 50 ENVELOPE")):
        values = sorted(t[index] for t in times)
        print(
            f"{label}: p50 {statistics.median(values):.1f} ms, max {values[-1]:.1f} ms over {rounds} rounds"
        )
    print(f"queries of the last round: {len(queries)}, {sum(q[0] for q in queries):.1f} ms in all")
    for elapsed, sql in queries:
        print(f"  {elapsed:6.2f} ms  {sql}")
    user_id = mailbox.owner_id
    folder, view, _uidnext, _modseq = mailbox_handlers._select(user_id, "INBOX")  # noqa: SLF001
    uids = view.all_uids()[-50:]
    atts = parse_command(f"a FETCH 1:50 {ENVELOPES}".encode()).args["atts"]
    select = mailbox_handlers._select  # noqa: SLF001
    fetch = message_handlers._fetch  # noqa: SLF001
    for label, call in (
        ("_select (database thread, no listener: counts the folder)", lambda: select(user_id, "INBOX")),
        ("_fetch (database thread)", lambda: fetch(folder, user_id, uids, atts, False, False)),
    ):
        call()
        started = time.perf_counter()
        for _ in range(10):
            call()
        print(f"{label}: {(time.perf_counter() - started) * 100:.1f} ms")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        select(user_id, "INBOX")
        fetch(folder, user_id, uids, atts, False, False)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(int(os.environ.get("PROFILE_LINES", "30")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
