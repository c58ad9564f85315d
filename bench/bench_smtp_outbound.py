#!/usr/bin/env python3
"""Outbound SMTP benchmark: deliveries per second between two instances of the platform on loopback.

Operator A (demo.mssante.fr) is this process's database; operator B (hopital-b.test) is a second instance
of the platform, as in tests/gateway/operator_b.py: its own PostgreSQL database, blob store, certificates
and liste blanche, and its real gateway (`manage.py run_smtp`) in a child process.

1. A submits N distinct ~20 KB French letters through `apps.messaging.delivery.submit.do_submit_message`
   (forked submitter processes) to BALs hosted by B.
2. A's real `celery worker` subprocesses (prefork, through Redis) deliver them with the real outbound
   transport (`apps.gateway.outbound`): one SMTP session per delivery, as the code does today, with
   STARTTLS, A's client certificate, B's certificate verified, and the S/MIME signature when configured.
3. B's gateway checks A's DN against its liste blanche and answers 250 once the message is stored
   (encrypted blob fsync'd, spool row committed). B's ingest tasks go to a Redis queue nobody consumes
   (purged afterwards): this measures the transfer, not B's deposit.
4. The clock runs from A's first submission to the later of A's last `delivered` delivery and B's last
   spool row. Every delivery must be delivered and stored at B exactly once.
The run is made twice: S/MIME signing on, then off (SMIME_SIGN_OUTBOUND=0). A breakdown then measures,
sequentially from this process against B, what one SMTP session's set-up costs against the transaction
itself (fresh session per message versus one reused session), and the signature's CPU.

    .venv/bin/python bench/bench_smtp_outbound.py            # 2,000 messages per run
    .venv/bin/python bench/bench_smtp_outbound.py --smoke    # 50 messages per run
    .venv/bin/python bench/bench_smtp_outbound.py --drain-only --profile 20  # py-spy A's workers (signed)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_delivery import (  # noqa: E402 (bench scripts run from a path, ROOT added above)
    OUT,
    PY_SPY,
    Workers,
    bal,
    cpu_of,
    purge_queue,
)
from bench.support import ensure_database, machine  # noqa: E402
from tests.gateway.operator_b import DOMAIN_B, OperatorB, free_port  # noqa: E402

DATA = ROOT / "bench" / "data"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_smtp_outbound"
DOMAIN_A = "demo.mssante.fr"
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "9")
PREFIX_A, PREFIX_B = "bench-smtp-out-a-", "bench-smtp-out-b-"
MESSAGE_BYTES = 20 * 1024
B_DN_SUBJECT = {"CN": "mx.hopital-b.test", "OU": "318310021300099", "O": "OPERATEUR B", "C": "FR"}
A_DN_SUBJECT = {"CN": "mx.demo.mssante.fr", "OU": "318310021300011", "O": "OPERATEUR A", "C": "FR"}

# Run in B's own Django (manage.py shell): its BALs and A in its liste blanche, idempotent; spool emptied.
SEED_B = """
from apps.accounts.models import User, UserKind
from apps.annuaire.identifiers import compute_rpps_key
from apps.annuaire.models import Professional, Source
from apps.gateway.models import InboundMessage
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services import Address, do_create_nominative_mailbox
from apps.trust.dn import normalise_dn
from apps.trust.models import OperatorCertificateDN, TrustedDomain
for index in range(int(COUNT)):
    local = f"dr.b{index}"
    if Mailbox.objects.filter(address=f"{local}@hopital-b.test").exists():
        continue
    body = f"10009{index:05d}"
    national_id = "8" + body + compute_rpps_key(body)
    user = User.objects.create_user(email=f"{local}@b.example", password=None, kind=UserKind.PROFESSIONAL,
                                    national_id=national_id, first_name="Bruno", last_name=f"Berger{index}")
    Professional.objects.create(national_id=national_id, id_type="8", first_name="Bruno",
                                last_name=f"BERGER{index}", profession_code="10",
                                profession_label="Médecin", source=Source.LOCAL)
    do_create_nominative_mailbox(owner=user, address=Address(local, "hopital-b.test"), acting_user=None)
domain, _ = TrustedDomain.objects.get_or_create(name="demo.mssante.fr",
                                                defaults={"name_unicode": "demo.mssante.fr"})
OperatorCertificateDN.objects.filter(domain=domain).delete()
OperatorCertificateDN.objects.create(domain=domain, dn=PEER_DN, dn_normalised=normalise_dn(PEER_DN))
InboundMessage.objects.all().delete()
"""


@dataclass
class BenchOperatorB(OperatorB):
    """OperatorB with production-like settings and B's ingest tasks parked in a Redis queue of their own."""

    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra}


@dataclass(frozen=True)
class Pki:
    ca: Path
    a_cert: Path
    a_key: Path
    b_cert: Path
    b_key: Path
    a_dn: str
    b_dn: str
    smime_a: tuple[Path, Path]
    smime_ca: Path


def make_pki(directory: Path) -> Pki:
    """TLS certificates of both operators (one test CA) and A's S/MIME signer, made once."""
    from cryptography import x509

    from apps.gateway.pki import CertificateAuthority, subject
    from tests.gateway import smime_certs

    if not (directory / "smime-a.key").exists():
        ca = CertificateAuthority(directory)
        ca.issue("a", subject(**A_DN_SUBJECT), server_names=("mx.demo.mssante.fr",), server=True)
        ca.issue("b", subject(**B_DN_SUBJECT), server_names=("127.0.0.1", "localhost"), server=True)
        smime_ca = smime_certs.make_ca("AC TEST IGC-SANTE SIGNATURE")
        smime_certs.issue(smime_ca, "OPERATEUR A", f"postmaster@{DOMAIN_A}").write(directory, "smime-a")
        (directory / "smime-ca.crt").write_bytes(smime_ca.cert_pem())

    def dn(name: str) -> str:
        return x509.load_pem_x509_certificate((directory / name).read_bytes()).subject.rfc4514_string()

    return Pki(
        ca=directory / "ca.crt",
        a_cert=directory / "a.crt",
        a_key=directory / "a.key",
        b_cert=directory / "b.crt",
        b_key=directory / "b.key",
        a_dn=dn("a.crt"),
        b_dn=dn("b.crt"),
        smime_a=(directory / "smime-a.crt", directory / "smime-a.key"),
        smime_ca=directory / "smime-ca.crt",
    )


def environment_a(url: str, pki: Pki, b_port: int, store: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": REDIS_DB,
        "CELERY_QUEUE_PREFIX": PREFIX_A,
        "DB_CONN_MAX_AGE": "60",
        "LISTE_BLANCHE_PROCESS_CACHE": "1",
        "MESSAGE_STORE_DIR": str(store),
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "GATEWAY_ROUTES": f"{DOMAIN_B}=127.0.0.1:{b_port}",
        "GATEWAY_CA_FILES": str(pki.ca),
        "GATEWAY_CERT_FILE": str(pki.a_cert),
        "GATEWAY_KEY_FILE": str(pki.a_key),
        "GATEWAY_HOSTNAME": "mx.demo.mssante.fr",
        "GATEWAY_OUTBOUND_TIMEOUT": "60",
        "SMIME_CERT_FILE": str(pki.smime_a[0]),
        "SMIME_KEY_FILE": str(pki.smime_a[1]),
        "SMIME_CA_FILES": str(pki.smime_ca),
        "SMIME_SIGN_OUTBOUND": "1",
    }
    env.pop("MSSANTE_DEV", None)
    return env


def start_operator_b(url: str, pki: Pki, workdir: Path, port: int, recipients: int) -> BenchOperatorB:
    b = BenchOperatorB(
        port=port,
        workdir=workdir,
        database_url=url,
        cert=pki.b_cert,
        key=pki.b_key,
        ca=pki.ca,
        smime_cert=pki.b_cert,  # B never signs here; its S/MIME trust is the same test CA
        smime_key=pki.b_key,
        smime_ca=pki.smime_ca,
        routes=f"{DOMAIN_A}=127.0.0.1:1",
        extra={
            "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "CELERY_QUEUE_PREFIX": PREFIX_B,
            "DB_CONN_MAX_AGE": "60",
            "LISTE_BLANCHE_PROCESS_CACHE": "1",
            "LOG_LEVEL": "WARNING",
        },
    )
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ensure_database(url, b.env())
    b.shell(SEED_B, PEER_DN=pki.a_dn, COUNT=str(recipients))
    b.start_smtp()
    return b


def purge_b_queue() -> None:
    import redis

    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}")
    keys = list(client.scan_iter(match=f"{PREFIX_B}*"))
    if keys:
        client.delete(*keys)


def prepare_a(pki: Pki, submitters: int) -> list[int]:
    """Sender BALs (idempotent), B's domain in A's liste blanche, an empty messaging store."""
    from django.conf import settings
    from django.db import connection

    from apps.trust.dn import normalise_dn
    from apps.trust.models import OperatorCertificateDN, TrustedDomain

    domain, _ = TrustedDomain.objects.get_or_create(name=DOMAIN_B, defaults={"name_unicode": DOMAIN_B})
    OperatorCertificateDN.objects.filter(domain=domain).delete()
    OperatorCertificateDN.objects.create(domain=domain, dn=pki.b_dn, dn_normalised=normalise_dn(pki.b_dn))
    senders = [bal(f"bench.sortant{i}", 3000 + i).pk for i in range(submitters)]
    reset_a()
    shutil.rmtree(settings.MESSAGE_STORE_DIR, ignore_errors=True)
    connection.close()
    return senders


def reset_a() -> None:
    from django.db import connection

    from apps.mailboxes.models import Mailbox

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_messagecopy, messaging_delivery, messaging_attachment, messaging_message "
            "CASCADE"
        )
    Mailbox.objects.filter(address__startswith="bench.").update(used_bytes=0, quota_warning_level=0)


def letter_text(number: int) -> str:
    """A distinct French letter of about MESSAGE_BYTES (several generated letters end to end)."""
    from bench.datasets.french import Correspondence

    letters = Correspondence(seed=2027)
    parts, size, index = [], 0, 0
    while size < MESSAGE_BYTES - 600:
        body = letters.letter(number * 40 + index).body
        parts.append(body)
        size += len(body.encode())
        index += 1
    return f"Dossier n° {number}\n\n" + "\n\n".join(parts)[: MESSAGE_BYTES - 600]


def submit_share(job: tuple) -> tuple[int, list[str]]:
    index, first, count, sender_id, recipients, start_at = job
    from apps.mailboxes.models import Mailbox
    from apps.messaging.delivery.submit import Outgoing, do_submit_message

    sender = Mailbox.objects.select_related("owner").get(pk=sender_id)
    texts = [letter_text(number) for number in range(first, first + count)]
    errors: list[str] = []
    time.sleep(max(0.0, start_at - time.time()))
    for offset, text in enumerate(texts):
        number = first + offset
        outgoing = Outgoing(
            mailbox=sender,
            to=[recipients[number % len(recipients)]],
            subject=f"Compte rendu n° {number} ({index})",
            text=text,
        )
        try:
            do_submit_message(outgoing, acting_user=sender.owner)
        except Exception as exc:  # noqa: BLE001 — counted and shown, the run then fails
            errors.append(f"{number}: {exc!r}"[:300])
    return count - len(errors), errors


def b_spool(url: str) -> tuple[int, datetime | None, float]:
    """(rows, last received_at, mean size) of B's spool, read straight from B's database."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), max(received_at), coalesce(avg(size), 0) FROM gateway_inboundmessage"
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1], float(row[2])


def backends_cpu(databases: list[str]) -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend of these databases (by pid)."""
    import psycopg

    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(url) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (databases,),
        ).fetchall()
    return {pid: cpu_of(pid) for (pid,) in pids}


def wait_done(total: int, b_url: str, timeout: float) -> tuple[int, int, int]:
    """Until A has delivered everything and B has stored it; (delivered, failed, stored at B)."""
    from django.db.models import Count

    from apps.messaging.models import Delivery, DeliveryState

    deadline, last_report = time.monotonic() + timeout, 0.0
    delivered = failed = stored = 0
    while time.monotonic() < deadline:
        states = dict(Delivery.objects.values_list("state").annotate(n=Count("id")))
        delivered, failed = states.get(DeliveryState.DELIVERED, 0), states.get(DeliveryState.FAILED, 0)
        stored = b_spool(b_url)[0]
        if (delivered + failed >= total and stored >= delivered) or failed:
            break
        if time.monotonic() - last_report > 10:
            print(f"  … {delivered}/{total} delivered at A, {stored} stored at B", flush=True)
            last_report = time.monotonic()
        time.sleep(0.3)
    return delivered, failed, stored


@dataclass
class RunResult:
    signed: bool
    drain: bool  # submitted first, then delivered by workers started afterwards
    total: int
    elapsed: float
    submit_span: float
    mean_size_a: float
    mean_size_b: float
    cpu: dict[str, float]
    retried: int

    @property
    def label(self) -> str:
        mode = "queue drained" if self.drain else "end to end"
        return f"{mode}, S/MIME signing {'on' if self.signed else 'off'}"


def submit_all(options: argparse.Namespace, senders: list[int]) -> float:
    """Every submission, from forked submitter processes; returns how long it took."""
    from django.db import connections

    connections.close_all()  # submitters are forked: no shared database socket
    recipients = [f"dr.b{i}@{DOMAIN_B}" for i in range(options.recipients)]
    total, count = options.messages, options.submitters
    shares = [total // count + (i < total % count) for i in range(count)]
    start_at = time.time() + 1.0
    jobs = [(i, sum(shares[:i]), shares[i], senders[i], recipients, start_at) for i in range(count)]
    with multiprocessing.get_context("fork").Pool(count) as pool:
        results = pool.map(submit_share, jobs)
    errors = [e for r in results for e in r[1]]
    if errors:
        raise SystemExit("bench: submissions failed:\n" + "\n".join(errors[:20]))
    return time.time() - start_at


def one_run(
    options: argparse.Namespace, env: dict, b: BenchOperatorB, senders: list[int], signed: bool, drain: bool
) -> RunResult:
    """End to end: workers running while A submits. Drain: A submits first, then workers empty the queue
    (the clock then runs from the first delivery, so it measures outbound delivery alone)."""
    reset_a()
    b.shell("from apps.gateway.models import InboundMessage\nInboundMessage.objects.all().delete()")
    purge_queue()
    purge_b_queue()
    assert b.server is not None
    worker_env = {**env, "SMIME_SIGN_OUTBOUND": "1" if signed else "0"}
    submit_span = submit_all(options, senders) if drain else 0.0
    gateway_cpu = cpu_of(b.server.pid)
    names = [url.rsplit("/", 1)[1] for url in (b.database_url, env["DATABASE_URL"])]
    database_cpu = backends_cpu(names)
    workers = Workers(options.worker_processes, options.concurrency, worker_env, OUT)
    profiler = None
    try:
        workers.wait_ready()
        workers_cpu = workers.cpu_seconds()
        if options.profile and signed and drain:
            profiler = profile(workers, options.profile)
        if not drain:
            submit_span = submit_all(options, senders)
        done = wait_done(options.messages, b.database_url, timeout=max(180.0, options.messages / 2))
        cpu = {
            "workers": workers.cpu_seconds() - workers_cpu,
            "gateway_b": cpu_of(b.server.pid) - gateway_cpu,
            # Backends alive at the end (A's workers, B's gateway threads), less what they had used before.
            "postgresql": sum(t - database_cpu.get(pid, 0.0) for pid, t in backends_cpu(names).items()),
        }
        if profiler is not None:
            profiler.wait(timeout=options.profile + 60)
    finally:
        workers.stop()
    return measure(options.messages, b, done, signed=signed, drain=drain, submit_span=submit_span, cpu=cpu)


def measure(
    total: int, b: BenchOperatorB, done: tuple[int, int, int], *, signed: bool, drain: bool, **figures: Any
) -> RunResult:
    from apps.messaging.models import Delivery, Message

    delivered, failed, stored = done
    if failed or not delivered == stored == total:
        reasons = list(Delivery.objects.exclude(error_text="").values_list("error_text", flat=True)[:5])
        raise SystemExit(
            f"bench: {delivered} delivered, {failed} failed, {stored} stored at B (expected {total}): "
            f"{reasons}"
        )
    delivered_at = Delivery.objects.order_by("delivered_at").values_list("delivered_at", flat=True)
    first_submitted = Message.objects.order_by("created_at").values_list("created_at", flat=True).first()
    first, last_a = delivered_at.first(), delivered_at.last()
    _rows, last_b, mean_b = b_spool(b.database_url)
    assert first is not None and first_submitted is not None and last_a is not None and last_b is not None
    # Drained: N-1 intervals between the first and the last delivery (workers' start-up excluded).
    elapsed = (max(last_a, last_b) - (first if drain else first_submitted)).total_seconds()
    return RunResult(
        signed=signed,
        drain=drain,
        total=total - 1 if drain else total,
        elapsed=elapsed,
        mean_size_a=statistics.mean(Message.objects.values_list("size", flat=True)),
        mean_size_b=mean_b,
        retried=Delivery.objects.filter(attempts__gt=1).count(),
        **figures,
    )


def profile(workers: Workers, seconds: int) -> subprocess.Popen:
    target = OUT / "smtp_outbound_profile_workers.txt"
    argv = [PY_SPY, "record", "--format", "raw", "--subprocesses", "--rate", "200", "-d", str(seconds),
            "-p", str(workers.processes[0].pid), "-o", str(target)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Breakdown:
    """Medians of wall time and means of CPU (this client + B's gateway), per operation, in ms."""

    wall: dict[str, float]
    cpu: dict[str, float]
    sign_cpu_ms: float
    samples: int


def breakdown(b: BenchOperatorB, senders: list[int], samples: int) -> Breakdown:
    """Sequential, from this process with A's settings: a session's set-up alone, one message on its own
    session (what each delivery does today) and one message on a session kept open, interleaved so that
    the machine's load weighs on all three alike."""
    from apps.gateway import outbound
    from apps.gateway.wiring import sign_outgoing
    from apps.mailboxes.models import Mailbox

    assert b.server is not None
    gateway_pid = b.server.pid
    route = outbound.routes_for(DOMAIN_B)[0]
    sender = Mailbox.objects.get(pk=senders[0]).address
    recipient = f"dr.b0@{DOMAIN_B}"
    # Shaped as A stores a submitted letter: UTF-8 text in quoted-printable (apps.messaging.store.mime).
    letter = EmailMessage(policy=policy.SMTP)
    letter["From"], letter["To"], letter["Subject"] = sender, recipient, "Mesure"
    letter["Message-ID"] = f"<mesure@{DOMAIN_A}>"
    letter.set_content(letter_text(999_999), charset="utf-8", cte="quoted-printable")
    raw = letter.as_bytes()

    def session(nodelay: bool = False) -> smtplib.SMTP:
        client = smtplib.SMTP(route.host, route.port, local_hostname="mx.demo.mssante.fr", timeout=60)
        if nodelay:  # what the inbound bench's clients do: the end of DATA leaves without Nagle's wait
            assert client.sock is not None
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.ehlo()
        client.starttls(context=outbound.client_context())
        client.ehlo()
        return client

    def fresh_nodelay() -> None:
        with session(nodelay=True) as client:
            client.sendmail(sender, [recipient], raw)

    kept, kept_nodelay = session(), session(nodelay=True)
    operations = {
        "setup": lambda: session().quit(),
        "fresh": lambda: outbound._send_once(route, sender, recipient, raw),  # noqa: SLF001 — today's path
        "reused": lambda: kept.sendmail(sender, [recipient], raw),
        "fresh_nodelay": fresh_nodelay,
        "reused_nodelay": lambda: kept_nodelay.sendmail(sender, [recipient], raw),
    }
    wall: dict[str, list[float]] = {name: [] for name in operations}
    cpu: dict[str, float] = dict.fromkeys(operations, 0.0)
    for _ in range(samples):
        for name, operation in operations.items():
            cpu_started, gateway_started = time.process_time(), cpu_of(gateway_pid)
            started = time.perf_counter()
            operation()
            wall[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - cpu_started + cpu_of(gateway_pid) - gateway_started
    kept.quit()
    kept_nodelay.quit()
    started_cpu = time.process_time()
    for _ in range(samples):
        sign_outgoing(raw)
    return Breakdown(
        wall={name: statistics.median(values) * 1000 for name, values in wall.items()},
        cpu={name: total * 1000 / samples for name, total in cpu.items()},
        sign_cpu_ms=(time.process_time() - started_cpu) * 1000 / samples,
        samples=samples,
    )


def report(options: argparse.Namespace, load: str, runs: list[RunResult], parts: Breakdown) -> str:
    command = "bench/bench_smtp_outbound.py" + (" --smoke" if options.smoke else "")
    lines = [
        f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `.venv/bin/python {command}` ({options.messages:,} messages per run; "
        f"{options.submitters} submitting process(es), {options.recipients} BALs at B; "
        f"A: {options.worker_processes} worker process(es) × {options.concurrency} prefork children; "
        "B: one `run_smtp` process, GATEWAY_DB_THREADS default)",
        "- Clock: end to end = first submission at A → later of the last `delivered` at A and the last spool "
        "row at B, workers running while A submits; queue drained = A submits everything first, then the "
        "workers start: first delivery → same end (outbound alone).",
        "",
        "| Run | Deliveries per second | Size at A / at B "
        "| CPU per message: A workers / B gateway / PostgreSQL | Retried |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        ms = 1000 / run.total
        lines.append(
            f"| {run.label} "
            f"| **{run.total / run.elapsed:.1f} messages/s** "
            f"({run.elapsed:.1f} s; submission took {run.submit_span:.1f} s) "
            f"| {run.mean_size_a / 1024:.1f} / {run.mean_size_b / 1024:.1f} KiB "
            f"| {run.cpu['workers'] * ms:.1f} / {run.cpu['gateway_b'] * ms:.1f} / "
            f"{run.cpu['postgresql'] * ms:.1f} ms | {run.retried} |"
        )
    for on, off in zip(runs[0::2], runs[1::2], strict=True):
        kind = "queue drained" if on.drain else "end to end"
        lines.append(
            f"\nSigning ({kind}): {(on.elapsed / on.total - off.elapsed / off.total) * 1000:+.1f} ms of wall "
            f"time and {(on.cpu['workers'] / on.total - off.cpu['workers'] / off.total) * 1000:+.1f} ms of "
            "A's worker CPU per message."
        )
    wall, cpu = parts.wall, parts.cpu
    lines += [
        "",
        f"Breakdown: sequential from the benchmark process with A's settings, {parts.samples} interleaved "
        "samples, one 20 KB message; wall = median, CPU = mean of this client + B's gateway "
        "(CPU ticks are 10 ms: means over many samples).",
        "",
        "| Operation | Wall (median) | CPU, client + B gateway |",
        "|---|---:|---:|",
        f"| SMTP session set-up alone (TCP, EHLO, STARTTLS with client certificate, EHLO, QUIT) "
        f"| {wall['setup']:.1f} ms | {cpu['setup']:.1f} ms |",
        f"| one message on its own session (today: `outbound._send_once`) | {wall['fresh']:.1f} ms "
        f"| {cpu['fresh']:.1f} ms |",
        f"| one message on a session kept open | {wall['reused']:.1f} ms | {cpu['reused']:.1f} ms |",
        f"| one message on its own session, TCP_NODELAY set | {wall['fresh_nodelay']:.1f} ms "
        f"| {cpu['fresh_nodelay']:.1f} ms |",
        f"| one message on a session kept open, TCP_NODELAY set | {wall['reused_nodelay']:.1f} ms "
        f"| {cpu['reused_nodelay']:.1f} ms |",
        # Compared with TCP_NODELAY set: without it a kept-open session waits for delayed ACKs (40 ms), which
        # would make the share meaningless (it once printed -404 %).
        f"| set-up's share of a delivery's SMTP exchange (TCP_NODELAY set) "
        f"| **{1 - wall['reused_nodelay'] / wall['fresh_nodelay']:.0%}** "
        f"| **{1 - cpu['reused_nodelay'] / cpu['fresh_nodelay']:.0%}** |",
        f"| S/MIME signature of the same message (client CPU) | — | {parts.sign_cpu_ms:.1f} ms |",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="50 messages per run: proves it runs")
    parser.add_argument("--messages", type=int, default=2_000, help="messages per run")
    parser.add_argument("--submitters", type=int, default=1)
    parser.add_argument("--recipients", type=int, default=4, help="BALs at B")
    parser.add_argument("--worker-processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="prefork children per worker")
    parser.add_argument("--drain-only", action="store_true", help="skip the end-to-end runs")
    parser.add_argument("--breakdown-only", action="store_true", help="only the sequential breakdown")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="py-spy A's workers")
    options = parser.parse_args()
    if options.smoke:
        options.messages = 50
    url = os.environ.get("BENCH_SMTP_OUTBOUND_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    pki = make_pki(DATA / "pki-smtp-outbound")
    b_port = free_port()
    env = environment_a(url, pki, b_port, DATA / "smtp-outbound-store-a")
    os.environ.update(env)
    ensure_database(url, env)
    import django

    django.setup()
    OUT.mkdir(parents=True, exist_ok=True)
    load = machine()
    b = start_operator_b(url + "_b", pki, DATA / "smtp-outbound-b", b_port, options.recipients)
    try:
        senders = prepare_a(pki, options.submitters)
        drains = (True,) if options.drain_only else (False, True)
        modes = [] if options.breakdown_only else [(s, d) for d in drains for s in (True, False)]
        runs = []
        for signed, drain in modes:  # each run's figure is printed as soon as it is known
            runs.append(one_run(options, env, b, senders, signed, drain))
            last = runs[-1]
            print(f"bench: {last.label}: {last.total / last.elapsed:.1f} messages/s", flush=True)
        parts = breakdown(b, senders, 10 if options.smoke else 100)
    finally:
        b.stop()
        purge_queue()
        purge_b_queue()
    text = report(options, load, runs, parts)
    print(text)
    (OUT / ("smtp_outbound_smoke.md" if options.smoke else "smtp_outbound.md")).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
