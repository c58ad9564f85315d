#!/usr/bin/env python3
"""Inbound SMTP benchmark: 20 KB messages over mutual TLS on loopback, 8 concurrent clients, each message
durably stored (encrypted blob fsync'd, spool row committed with synchronous commit) before its 250.

1. Creates (once) a dedicated PostgreSQL database, migrated, with one listed peer operator and one BAL.
2. Starts `manage.py run_smtp` as a child process (its own PKI in bench/data/pki-smtp) on a free port.
3. Starts `--clients` client processes; each opens one STARTTLS session with its client certificate and
   sends its share of distinct 20 KB messages one after the other (as an MTA reuses a connection).
4. Reports messages per second over the whole run, per-message latency (MAIL FROM to the 250 after DATA),
   and checks that every 250 has its spool row. Ingest tasks go to a Redis queue that is purged afterwards
   (this measures acceptance, not delivery).
Prints a markdown block (also written to bench/out/smtp_inbound.md) for docs/benchmarks.md.

    .venv/bin/python bench/bench_smtp_inbound.py            # full size: 8 clients x 1,250 messages
    .venv/bin/python bench/bench_smtp_inbound.py --smoke    # 2 clients x 10 messages, seconds
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_smtp"
PEER_DOMAIN = "hopital-bench.fr"
SENDER = f"dr.bench@{PEER_DOMAIN}"
RECIPIENT = "bench.smtp@demo.mssante.fr"
OWNER = "bench.smtp.owner@demo.mssante.fr"
PEER_SUBJECT = {"CN": "mx.hopital-bench.fr", "OU": "318310021300028", "O": "HOPITAL BENCH", "C": "FR"}
MESSAGE_BYTES = 20 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recipients(count: int) -> list[str]:
    """The receiving BALs: one (the default), or `count` distinct ones (--recipients)."""
    return [RECIPIENT] if count <= 1 else [f"bench.smtp.{n}@demo.mssante.fr" for n in range(count)]


def prepare(pki_dir: Path, count: int = 1) -> dict[str, Path]:
    """PKI files, the liste blanche entry of the peer and the receiving BALs (idempotent)."""
    import django

    django.setup()
    from django.db import transaction

    from apps.accounts.models import UserKind
    from apps.gateway.models import InboundMessage
    from apps.gateway.pki import CertificateAuthority, subject
    from apps.mailboxes.models import Mailbox
    from apps.mailboxes.services import Address, do_create_nominative_mailbox
    from apps.trust.dn import normalise_dn
    from apps.trust.models import OperatorCertificateDN, TrustedDomain
    from tests.factories import UserFactory
    from tests.plugins.bals import professional_for

    if not (pki_dir / "peer.crt").exists():
        ca = CertificateAuthority(pki_dir)
        ca.issue_server("server", "localhost", O="OPERATEUR BENCH", C="FR")
        ca.issue("peer", subject(**PEER_SUBJECT), server=True)
    from cryptography import x509

    peer_dn = x509.load_pem_x509_certificate((pki_dir / "peer.crt").read_bytes()).subject.rfc4514_string()
    domain, _ = TrustedDomain.objects.get_or_create(name=PEER_DOMAIN, defaults={"name_unicode": PEER_DOMAIN})
    OperatorCertificateDN.objects.filter(domain=domain).delete()
    OperatorCertificateDN.objects.create(domain=domain, dn=peer_dn, dn_normalised=normalise_dn(peer_dn))
    if not Mailbox.objects.filter(address=RECIPIENT).exists():
        with transaction.atomic():
            owner = UserFactory(email=OWNER, kind=UserKind.PROFESSIONAL, national_id="810003456786")
            professional_for(owner)
            do_create_nominative_mailbox(
                owner=owner, address=Address("bench.smtp", "demo.mssante.fr"), acting_user=None
            )
    owner = Mailbox.objects.get(address=RECIPIENT).owner
    existing = set(
        Mailbox.objects.filter(address__startswith="bench.smtp.").values_list("address", flat=True)
    )
    for address in recipients(count):
        if address not in existing and address != RECIPIENT:
            local = address.split("@")[0]
            do_create_nominative_mailbox(
                owner=owner, address=Address(local, "demo.mssante.fr"), acting_user=None
            )
    InboundMessage.objects.all().delete()  # blobs of earlier runs are left to the store's clean-up
    load_bench_crl(pki_dir)
    return {name: pki_dir / name for name in ("ca.crt", "server.crt", "server.key", "peer.crt", "peer.key")}


def load_bench_crl(pki_dir: Path, revoked: int = 1000) -> None:
    """Revocation is checked at every MAIL FROM (ADR 0018): hold a CRL of the bench CA listing `revoked`
    other serials, as production holds the IGC-Santé CRLs, so the measured check is a real set lookup."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from django.test import override_settings

    from apps.trust.services_crl import do_refresh_crls

    ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), password=None)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
    )
    for serial in range(1, revoked + 1):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        builder = builder.add_revoked_certificate(entry)
    crl_path = pki_dir / "ca.crl"
    crl_path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))  # type: ignore[arg-type]
    with override_settings(GATEWAY_CA_FILES=[str(pki_dir / "ca.crt")], CRL_EXTRA_SOURCES=[str(crl_path)]):
        results = [outcome.result for outcome in do_refresh_crls()]
    assert results == ["stored"], results


def message(client: int, index: int) -> bytes:
    head = (
        f"From: Dr Bench <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: Compte rendu {client}-{index}\r\n"
        f"Message-ID: <bench-{client}-{index}-{time.time_ns()}@{PEER_DOMAIN}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = f"Ligne de compte rendu {client}-{index} : examen sans particularite notable.".ljust(76) + "\r\n"
    body = (line.encode() * (MESSAGE_BYTES // len(line) + 1))[: MESSAGE_BYTES - len(head)]
    return head + body


def client_run(args: tuple) -> tuple[int, list[float], list[str]]:
    """One client: one mutual-TLS session, `count` messages; returns (accepted, latencies, errors)."""
    client, count, port, files, start_at, to = args
    context = ssl.create_default_context(cafile=files["ca.crt"])
    context.load_cert_chain(files["peer.crt"], files["peer.key"])
    payloads = [message(client, index) for index in range(count)]
    latencies, errors, accepted = [], [], 0
    time.sleep(max(0.0, start_at - time.time()))
    with smtplib.SMTP("localhost", port, timeout=60) as session:
        # Without TCP_NODELAY the tail of each DATA waits for the server's delayed ACK (40 ms a message).
        assert session.sock is not None
        session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session.ehlo(PEER_SUBJECT["CN"])
        session.starttls(context=context)
        session.ehlo(PEER_SUBJECT["CN"])
        for index, payload in enumerate(payloads):
            started = time.perf_counter()
            try:
                # Many recipients: each message to the next one, so few meet a recently checked address.
                session.sendmail(SENDER, [to[(client * count + index) % len(to)]], payload)
                accepted += 1
            except smtplib.SMTPException as exc:
                errors.append(repr(exc)[:200])
                session.rset()
            latencies.append(time.perf_counter() - started)
    return accepted, latencies, errors


def start_gateway(
    port: int, files: dict[str, Path], env: dict, processes: int, log_name: str = "smtp_inbound_gateway.log"
) -> subprocess.Popen[bytes]:
    """`run_smtp` on `port`; its output goes to bench/out/`log_name` (a pipe nobody reads would block the
    gateway once full, and a benchmark would then wait for mail that never comes)."""
    argv = [
        sys.executable, "manage.py", "run_smtp", "--port", str(port), "--smtps-port", "0",
        "--processes", str(processes),
        "--cert", str(files["server.crt"]), "--key", str(files["server.key"]), "--ca", str(files["ca.crt"]),
    ]  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / log_name
    with log.open("ab") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"run_smtp exited: {log_tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"run_smtp did not start within 60 s: {log_tail(log)}")


def log_tail(path: Path, size: int = 2000) -> str:
    """The end of a log file, for an error message."""
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return f"(no log at {path})"


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (run_smtp --processes forks one gateway per process)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += process_tree(int(child))
    return found


def rss_mib(pid: int) -> float:
    """Peak RSS of the largest process of the tree."""
    peaks = [0.0]
    for one in process_tree(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree so far (all threads)."""
    total = 0.0
    for one in process_tree(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def purge_queue() -> None:
    from mssante_web.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 clients x 10 messages: proves it runs")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--messages", type=int, default=10_000, help="total messages")
    parser.add_argument(
        "--gateway-processes", type=int, default=2, help="run_smtp --processes (one per core)"
    )
    parser.add_argument(
        "--recipients",
        type=int,
        default=1,
        help="distinct receiving BALs, messages spread over them (1: every message to the same BAL)",
    )
    options = parser.parse_args()
    clients, total = (2, 20) if options.smoke else (options.clients, options.messages)
    url = os.environ.get("BENCH_SMTP_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "MESSAGE_STORE_DIR": str(DATA / "smtp-store"),
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
        # As in production: DB threads keep their connections, the liste blanche is a per-process snapshot.
        "DB_CONN_MAX_AGE": "60",
        "LISTE_BLANCHE_PROCESS_CACHE": "1",
        # Likewise the per-process sets of revoked serials and the throttled inventory writes (ADR 0018).
        "CRL_PROCESS_CACHE": "1",
        "CERT_INVENTORY_TOUCH_SECONDS": "300",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    DATA.mkdir(parents=True, exist_ok=True)
    ensure_database(url, env)
    files = prepare(DATA / "pki-smtp", options.recipients)
    to = recipients(options.recipients)
    from django.db import connections

    connections.close_all()  # the client processes are forked: no shared database socket
    port = free_port()
    load = machine()
    gateway = start_gateway(port, files, env, options.gateway_processes)
    cpu_before = cpu_seconds(gateway.pid)
    try:
        share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        start_at = time.time() + 1.0
        jobs = [
            (i, share[i], port, {k: str(v) for k, v in files.items()}, start_at, to) for i in range(clients)
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            results = pool.map(client_run, jobs)
            pool.close()
            pool.join()  # reaped: their CPU time is now in RUSAGE_CHILDREN
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        elapsed = time.time() - start_at
        peak = rss_mib(gateway.pid)
        gateway_cpu = cpu_seconds(gateway.pid) - cpu_before
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    from apps.gateway.models import InboundMessage

    accepted = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    errors = [e for r in results for e in r[2]]
    stored = InboundMessage.objects.count()
    purge_queue()
    rate = accepted / elapsed
    p50, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
    report = [
        f"- Machine: {load}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `.venv/bin/python bench/bench_smtp_inbound.py{' --smoke' if options.smoke else ''}"
        f"{f' --recipients {options.recipients}' if options.recipients > 1 else ''}` "
        f"({clients} clients, {total} messages of {MESSAGE_BYTES // 1024} KB, STARTTLS + client certificate, "
        f"{options.gateway_processes} gateway process(es), {len(to)} receiving BAL(s))",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Messages accepted (250) / spool rows committed | {accepted} / {stored} |",
        f"| Throughput | **{rate:.0f} messages/s** ({elapsed:.1f} s) |",
        f"| Latency per message (MAIL FROM to 250), p50 / p95 / max | {p50 * 1000:.1f}"
        f" / {p95 * 1000:.1f} / {latencies[-1] * 1000:.1f} ms |",
        f"| Gateway CPU per message (all its processes) | {gateway_cpu / max(accepted, 1) * 1000:.2f} ms |",
        f"| Clients' CPU per message (same machine) | {client_cpu / max(accepted, 1) * 1000:.2f} ms |",
        f"| Peak RSS of a gateway process | {peak:.0f} MiB |",
        f"| Refused or failed | {len(errors)} |",
    ]
    text = "\n".join(report)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "smtp_inbound.md").write_text(text + "\n")
    if errors:
        print("errors:", *errors[:5], sep="\n  ", file=sys.stderr)
    return 0 if accepted == total == stored else 1


if __name__ == "__main__":
    sys.exit(main())
