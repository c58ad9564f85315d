#!/usr/bin/env python3
"""Delivery benchmark: distinct ~100 KB messages with a PDF, submitted through the service, delivered by
real Celery worker processes through Redis; end-to-end messages/s and the submitting process's RSS.

1. A dedicated PostgreSQL database (created and migrated if missing), a few sender and recipient BALs
   created through apps.mailboxes.services; the messaging tables and the blob store are emptied first.
2. `celery -A mssante_web worker` subprocesses (prefork) on Redis db 9 and a queue of their own, started
   and answering pings before the clock starts.
3. Submitter processes (forked after Django start-up, like preloaded web workers) call
   `apps.messaging.delivery.submit.do_submit_message` for their share: each message has a generated French
   letter
   and a distinct PDF (bench/datasets), from its own sender BAL to one of the recipient BALs.
4. The clock runs from the first submission to the last Delivery in state `delivered` (its delivered_at);
   every delivery must be delivered exactly once (one inbox copy per delivery). Peak RSS (VmHWM) of each
   submitting process is reported.

    .venv/bin/python bench/bench_delivery.py            # 20,000 messages (a few minutes)
    .venv/bin/python bench/bench_delivery.py --smoke    # 200 messages, seconds
    .venv/bin/python bench/bench_delivery.py --profile  # also py-spy the worker and a submitter

Settings are production-like where it matters: persistent database connections (DB_CONN_MAX_AGE=60) and
the per-process liste blanche cache, which tests switch off.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench"
DOMAIN = "demo.mssante.fr"
PDF_BYTES = 72_000  # base64 in the MIME message: ~97 KB, so ~100 KB messages with the letter
PY_SPY = os.environ.get("PY_SPY", shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy")


def rpps(number: int) -> str:
    from apps.annuaire.identifiers import compute_rpps_key

    body = f"1{number:09d}"
    return "8" + body + compute_rpps_key(body)


def bal(local_part: str, number: int):
    """A nominative BAL and its owner (a professional of the annuaire), created once."""
    from django.db import transaction

    from apps.accounts.models import UserKind
    from apps.mailboxes.models import Mailbox
    from apps.mailboxes.services import Address, do_create_nominative_mailbox
    from tests.factories import UserFactory
    from tests.plugins.bals import professional_for

    existing = Mailbox.objects.select_related("owner").filter(address=f"{local_part}@{DOMAIN}").first()
    if existing is not None:
        return existing
    with transaction.atomic():
        owner = UserFactory(
            email=f"{local_part}@bench.example", kind=UserKind.PROFESSIONAL, national_id=rpps(number)
        )
        professional_for(owner)
        return do_create_nominative_mailbox(
            owner=owner, address=Address(local_part, DOMAIN), acting_user=None
        )


def prepare(senders: int, recipients: int) -> tuple[list[int], list[str]]:
    """The BALs (idempotent) and an empty messaging store; returns sender BAL ids, recipient addresses."""
    from django.conf import settings
    from django.db import connection

    from apps.mailboxes.models import Mailbox

    sender_ids = [bal(f"bench.envoi{i}", 1000 + i).pk for i in range(senders)]
    addresses = [bal(f"bench.reception{i}", 2000 + i).address for i in range(recipients)]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_messagecopy, messaging_delivery, messaging_attachment, messaging_message, "
            "messaging_storedblob, audit_auditevent CASCADE"
        )
    Mailbox.objects.filter(address__startswith="bench.").update(used_bytes=0, quota_warning_level=0)
    shutil.rmtree(settings.MESSAGE_STORE_DIR, ignore_errors=True)
    return sender_ids, addresses


def purge_queue() -> None:
    from mssante_web.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)


class Workers:
    """`celery worker` subprocesses in their own process groups, stopped (then killed) at the end."""

    def __init__(self, count: int, concurrency: int, env: dict, log_dir: Path) -> None:
        from django.conf import settings

        self.nodes = [f"bench-delivery-{i}-{os.getpid()}@localhost" for i in range(count)]
        self.processes: list[subprocess.Popen] = []
        # CELERY_DB_REUSE_MAX comes from the environment (`--db-reuse`): at 0, Celery's Django fixup closes
        # the database connection before and after every task.
        launcher = [sys.executable, "-m", "celery", "-A", "mssante_web"]
        for node in self.nodes:
            argv = [*launcher, "worker",
                    "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "--pool=prefork", "-c", str(concurrency),
                    "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", node,
                    f"--loglevel={os.environ.get('BENCH_WORKER_LOGLEVEL', 'WARNING')}"]  # fmt: skip
            log = (log_dir / f"{node.split('@')[0]}.log").open("ab")
            self.processes.append(
                subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )  # fmt: skip
            )

    def wait_ready(self, timeout: float = 90) -> None:
        from mssante_web.celery import app

        deadline = time.monotonic() + timeout
        waiting = set(self.nodes)
        while waiting and time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise SystemExit("bench: a worker exited during start-up (see bench/out/*.log)")
            for reply in app.control.ping(destination=list(waiting), timeout=0.5) or []:
                waiting -= set(reply)
        if waiting:
            raise SystemExit(f"bench: workers {sorted(waiting)} did not answer within {timeout:.0f} s")

    def pool_pids(self) -> list[int]:
        pids = []
        for process in self.processes:
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            with contextlib.suppress(OSError):
                pids += [int(pid) for pid in children.read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        return sum(cpu_of(pid) for pid in [*(p.pid for p in self.processes), *self.pool_pids()])

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu() -> float:
    """CPU seconds of the PostgreSQL backends connected to the bench database right now (the workers'
    persist only with --db-reuse: without it each task's backend is gone before it can be read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return sum(cpu_of(pid) for (pid,) in cursor.fetchall())


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def submit_share(job: tuple) -> tuple[int, float, float, list[str], float]:
    """One submitter: `count` messages from its sender BAL; (sent, seconds, peak RSS MiB, errors, CPU s)."""
    index, count, sender_id, recipients, start_at, first = job
    from apps.mailboxes.models import Mailbox
    from apps.messaging.delivery.submit import Outgoing, do_submit_message
    from apps.messaging.store.mime import PartSource
    from bench.datasets.french import Correspondence
    from bench.datasets.pdf import make_pdf

    sender = Mailbox.objects.select_related("owner").get(pk=sender_id)
    letters = Correspondence(seed=2026)
    errors: list[str] = []
    sent = 0
    time.sleep(max(0.0, start_at - time.time()))
    started = time.perf_counter()
    cpu_started = time.process_time()
    for number in range(first, first + count):
        letter = letters.letter(number)
        pdf = make_pdf(number, PDF_BYTES, title=letter.subject)
        name = letter.attachment_names[0] if letter.attachment_names else f"courrier-{number}.pdf"
        outgoing = Outgoing(
            mailbox=sender,
            to=[recipients[number % len(recipients)]],
            subject=letter.subject,
            text=letter.body,
            attachments=[PartSource(name, "application/pdf", lambda pdf=pdf: [pdf])],
        )
        try:
            do_submit_message(outgoing, acting_user=sender.owner)
            sent += 1
        except Exception as exc:  # noqa: BLE001 — counted and shown, the run then fails
            errors.append(f"{number}: {exc!r}"[:300])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    backend = own_backend_cpu()
    print(f"  submitter {index}: {cpu / max(sent, 1) * 1000:.2f} ms CPU/message in Python, "
          f"{backend / max(sent, 1) * 1000:.2f} ms in its PostgreSQL backend", flush=True)  # fmt: skip
    return sent, elapsed, peak_rss_mib(), errors, cpu + backend


def own_backend_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend (read before the connection goes away)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cpu_of(cursor.fetchone()[0])


def wait_delivered(total: int, timeout: float) -> int:
    from apps.messaging.models import Delivery, DeliveryState

    deadline = time.monotonic() + timeout
    last_report = 0.0
    delivered = 0
    while time.monotonic() < deadline:
        delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED).count()
        if delivered >= total:
            return delivered
        if time.monotonic() - last_report > 10:
            print(f"  … {delivered}/{total} delivered", flush=True)
            last_report = time.monotonic()
        time.sleep(0.5)
    return delivered


def start_profilers(workers: Workers, seconds: int) -> list[subprocess.Popen]:
    OUT.mkdir(parents=True, exist_ok=True)
    profilers = []
    for process in workers.processes:
        target = OUT / f"delivery_profile_worker_{process.pid}.txt"
        profilers.append(
            subprocess.Popen(
                [
                    PY_SPY,
                    "record",
                    "--format",
                    "raw",
                    "--subprocesses",
                    "--rate",
                    "200",
                    "-d",
                    str(seconds),
                    "-p",
                    str(process.pid),
                    "-o",
                    str(target),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        )
    return profilers


def profile_submitters(pids: list[int], seconds: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "-d",
                str(seconds),
                "-p",
                str(pid),
                "-o",
                str(OUT / f"delivery_profile_submitter_{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for pid in pids
    ]


def check_exactly_once(total: int) -> tuple[int, int, int]:
    """(deliveries, delivered, inbox copies): one copy per delivery, no more, no less."""
    from django.db.models import Count

    from apps.messaging.models import Delivery, DeliveryState, MessageCopy

    deliveries = Delivery.objects.count()
    delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED).count()
    copies = MessageCopy.objects.filter(is_outgoing=False).count()
    doubles = (
        MessageCopy.objects.filter(is_outgoing=False)
        .values("message_id", "mailbox_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if doubles or not deliveries == delivered == copies == total:
        raise SystemExit(
            f"bench: NOT exactly once: {deliveries} deliveries, {delivered} delivered, {copies} copies, "
            f"{doubles} duplicated (expected {total})"
        )
    return deliveries, delivered, copies


def setup_environment(options: argparse.Namespace) -> dict:
    url = os.environ.get("BENCH_DELIVERY_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "CELERY_QUEUE_PREFIX": "bench-delivery-",
        "DB_CONN_MAX_AGE": "60",
        "LISTE_BLANCHE_PROCESS_CACHE": "1",
        # Production keeps a worker child's connection across tasks (settings: 1000 outside tests).
        "CELERY_DB_REUSE_MAX": str(options.db_reuse),
        "MESSAGE_STORE_DIR": str(DATA / ("delivery-store-smoke" if options.smoke else "delivery-store")),
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MSSANTE_DEV", None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return env


def run(options: argparse.Namespace, env: dict) -> dict:
    import django

    ensure_database(env["DATABASE_URL"], env)
    django.setup()
    from django.db import connections

    from apps.messaging.models import Delivery, Message

    sender_ids, recipients = prepare(options.submitters, options.recipients)
    purge_queue()
    OUT.mkdir(parents=True, exist_ok=True)
    workers = Workers(options.worker_processes, options.concurrency, env, OUT)
    try:
        workers.wait_ready()
        workers_cpu = workers.cpu_seconds()
        connections.close_all()  # submitters are forked: no shared database socket
        total = options.messages
        shares = [total // options.submitters + (i < total % options.submitters) for i in
                  range(options.submitters)]  # fmt: skip
        firsts = [sum(shares[:i]) for i in range(options.submitters)]
        start_at = time.time() + 1.0
        jobs = [
            (i, shares[i], sender_ids[i], recipients, start_at, firsts[i]) for i in range(options.submitters)
        ]
        profilers: list[subprocess.Popen] = []
        with multiprocessing.get_context("fork").Pool(options.submitters) as pool:
            pending = pool.map_async(submit_share, jobs)
            if options.profile:
                time.sleep(max(0.0, start_at - time.time()) + 2)
                profilers = start_profilers(workers, options.profile)
                profilers += profile_submitters([p.pid for p in pool._pool[:1]], options.profile)  # noqa: SLF001
            results = pending.get()
        submitted_at = time.time()
        delivered = wait_delivered(total, timeout=max(120.0, total / 5))
        # Worker children and database backends must be read while they live.
        workers_cpu = workers.cpu_seconds() - workers_cpu
        database_cpu = backends_cpu()
        for profiler in profilers:
            profiler.wait(timeout=options.profile + 60)
    finally:
        workers.stop()
    errors = [e for r in results for e in r[3]]
    if errors:
        raise SystemExit("bench: submissions failed:\n" + "\n".join(errors[:20]))
    check_exactly_once(total)
    first = Message.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = Delivery.objects.order_by("-delivered_at").values_list("delivered_at", flat=True).first()
    sizes = list(Message.objects.values_list("size", flat=True)[:1000])
    return {
        "total": total,
        "delivered": delivered,
        "elapsed": (last - first).total_seconds(),
        "submit_elapsed": max(r[1] for r in results),
        "submit_span": submitted_at - start_at,
        "rss": [r[2] for r in results],
        "mean_size": sum(sizes) / len(sizes),
        "cpu": {
            "submitters": sum(r[4] for r in results),
            "workers": workers_cpu,
            "postgresql": database_cpu,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="200 messages: proves the benchmark runs")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--submitters", type=int, default=2, help="submitting processes (a BAL each)")
    parser.add_argument("--recipients", type=int, default=4, help="recipient BALs")
    parser.add_argument("--worker-processes", type=int, default=1, help="celery worker subprocesses")
    parser.add_argument("--concurrency", type=int, default=3, help="prefork children per worker")
    parser.add_argument(
        "--db-reuse",
        type=int,
        default=1000,
        metavar="N",
        help="workers' CELERY_DB_REUSE_MAX (production default 1000; 0: a connection per task, as in tests)",
    )
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="py-spy for SECONDS")
    options = parser.parse_args()
    if options.smoke:
        options.messages = 200
    env = setup_environment(options)
    load = machine()
    figures = run(options, env)
    rate = figures["total"] / figures["elapsed"]
    rss = max(figures["rss"])
    cpu, ms = figures["cpu"], 1000 / figures["total"]
    per_message = sum(cpu.values()) * ms
    command = "bench/bench_delivery.py" + (" --smoke" if options.smoke else "")
    report = [
        f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `.venv/bin/python {command}` ({figures['total']:,} messages of "
        f"{figures['mean_size'] / 1000:.0f} KB encoded with a {PDF_BYTES // 1000} KB PDF; "
        f"{options.submitters} submitting processes, {options.recipients} recipient BALs; "
        f"{options.worker_processes} worker process(es) × {options.concurrency} prefork children"
        + (f", CELERY_DB_REUSE_MAX={options.db_reuse}" if options.db_reuse else "")
        + ")",
        "",
        "| Figure | Value | Target |",
        "|---|---:|---:|",
        f"| End to end, first submission → last delivered | **{rate:.0f} messages/s** "
        f"({figures['elapsed']:.1f} s) | ≥ 200/s ({rate / 200:.0%}) |",
        f"| Submission alone (slowest submitter) | {figures['total'] / figures['submit_elapsed']:.0f} "
        f"messages/s ({figures['submit_elapsed']:.1f} s) | — |",
        f"| Peak RSS of a submitting process (VmHWM) | **{rss:.0f} MiB** "
        f"| < 150 MB ({rss * 1.048576 / 150:.0%}) |",
        f"| CPU per message: submitters (with their PostgreSQL backends) {cpu['submitters'] * ms:.1f} ms, "
        f"workers {cpu['workers'] * ms:.1f} ms, "
        f"workers' backends {cpu['postgresql'] * ms:.1f} ms | **{per_message:.1f} ms** "
        f"(2-core ceiling {2000 / per_message:.0f}/s) | ≤ 10 ms |",
        f"| Delivered exactly once (deliveries = delivered = inbox copies) | {figures['delivered']:,} "
        "| all |",
    ]
    text = "\n".join(report)
    print(text)
    name = "delivery_smoke.md" if options.smoke else "delivery.md"
    (OUT / name).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
