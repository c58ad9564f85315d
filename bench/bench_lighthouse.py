#!/usr/bin/env python3
"""Lighthouse 12.2.3 (npm, package-lock.json) on the login page, the inbox, a message, the composer and the
patient inbox, served as in production (gunicorn, production settings, whitenoise's compressed manifest).

1. The bench's own database (BENCH_LIGHTHOUSE_DATABASE_URL, default mssante_bench_lighthouse), migrated
   and seeded with the demo (`seed_demo --force`: the personas and their messages); `collectstatic`.
2. gunicorn as docs/operations.md runs it (gthread, 2 workers × 4 threads) on a free local port, over plain
   HTTP (SECURE_SSL_REDIRECT=0, SECURE_COOKIES=0: Lighthouse talks to it directly, not through the TLS proxy).
3. A Django session for the secretary (Bob) and one for the patient (Paul), as after a password and
   second-factor login, created here in the bench's database; Lighthouse sends it with `--extra-headers`.
4. Lighthouse's CLI (Node 20, CHROME_PATH=/usr/bin/chromium, `--headless=new --no-sandbox`), default mobile
   preset and simulated throttling, categories performance, accessibility and best practices: 3 runs per
   page, the median score of each category. Targets: accessibility >= 95, best practices >= 95,
   performance >= 90; a page that misses one is reported with the failing audits of that category (from
   the run with the median score). Reports: bench/out/lighthouse/.

    .venv/bin/python bench/bench_lighthouse.py           # 5 pages x 3 runs (5-17 min on 2 cores)
    .venv/bin/python bench/bench_lighthouse.py --smoke   # the tools only (see SMOKE_SKIP)

Exit status: non-zero when Lighthouse cannot run or a run ends with a runtime error; a missed target is a
finding of the benchmark, printed and written down, not a crash of it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from support import ensure_database, machine  # noqa: E402 (bench/ is the script's directory)

OUT = ROOT / "bench" / "out" / "lighthouse"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_lighthouse"
LIGHTHOUSE = ROOT / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = {"performance": 90, "accessibility": 95, "best-practices": 95}
SECRETARY = "bob.leroy@demo.mssante.fr"
PATIENT = "paul.bernard@example.test"
# The bench's own master key: derived from a public phrase (the bench database holds only demo data), but not
# the development key, which production settings refuse.
# Why --smoke (make bench-smoke, CI) checks the tools but measures nothing.
SMOKE_SKIP = (
    "no page measured in --smoke: a fresh bench database's migrations alone took 54 s here, past the 60 s "
    "budget of a smoke run (make bench measures)"
)
BENCH_MASTER_KEY = base64.b64encode(hashlib.sha256(b"mssante bench lighthouse master key").digest()).decode()


def production_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MSSANTE_DEV", "MSSANTE_TESTING", "DEBUG")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        SECRET_KEY="bench-lighthouse-" + hashlib.sha256(database_url.encode()).hexdigest(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        MSS_NIL=env.get("MSS_NIL", "bench-lighthouse"),
        MASTER_KEY=BENCH_MASTER_KEY,
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[str]:
    """The web server of docs/operations.md on 127.0.0.1:port; stopped (its whole group) on exit."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = (OUT / "gunicorn.log").open("w")
    argv = [
        *(str(Path(sys.executable).parent / "gunicorn"), "mssante_web.wsgi:application"),
        *("--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "2", "--threads", "4"),
        *("--timeout", "30"),
    ]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # The login page, not /healthz: that one reports the missing Celery workers (none here).
                with urllib.request.urlopen(base + "/comptes/login/", timeout=5):  # noqa: S310 (http://127.0.0.1)
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"gunicorn did not start ({error}); see {OUT / 'gunicorn.log'}"
                    ) from error
                time.sleep(0.3)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def sessions_and_pages(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(name, path, session key or None) of the pages measured, found in the demo data."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssante_web.settings")
    import django

    django.setup()
    from apps.mailboxes.models import Mailbox
    from apps.messaging.models import MessageCopy
    from scripts.screenshots import session_cookie

    mailbox = Mailbox.objects.filter(memberships__user__email=SECRETARY).order_by("pk").first()
    copy = MessageCopy.objects.filter(mailbox=mailbox, folder__role="inbox").order_by("-received_at").first()
    patient_copy = (
        MessageCopy.objects.filter(mailbox__patient_profile__user__email=PATIENT).order_by("-pk").first()
    )
    if mailbox is None or copy is None or patient_copy is None:
        raise RuntimeError("demo data missing: seed_demo did not create the secretary's BAL and messages")
    bob, paul = session_cookie(SECRETARY), session_cookie(PATIENT)
    return [
        ("connexion", "/comptes/login/", None),
        ("boite", f"/messagerie/{mailbox.pk}/", bob),
        ("message", f"/messagerie/{mailbox.pk}/message/{copy.pk}/", bob),
        ("ecrire", f"/messagerie/{mailbox.pk}/ecrire/", bob),
        ("patient-boite", "/patient/", paul),
    ]


def lighthouse(url: str, session: str | None, target: Path) -> dict:
    """One Lighthouse run (default mobile preset, simulated throttling); its JSON report."""
    argv = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={target}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox",
        "--quiet",
    ]
    if session is not None:
        argv.append("--extra-headers=" + json.dumps({"Cookie": f"sessionid={session}"}))
    env = dict(os.environ, CHROME_PATH=CHROME)
    target.unlink(missing_ok=True)
    for attempt in (1, 2):
        result = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        if result.returncode == 0 and target.exists():
            break
        # Lighthouse itself asks for a new run when Chromium's trace came out incomplete (NO_NAVSTART, seen
        # once on a busy machine); anything else, or a second failure, stops the bench.
        if attempt == 1 and "Please run Lighthouse again" in result.stderr:
            print(
                f"bench_lighthouse: {url}: Lighthouse asked for a new run (trace incomplete), once",
                flush=True,
            )
            continue
        raise RuntimeError(f"lighthouse failed on {url} (code {result.returncode}): {result.stderr[-2000:]}")
    report = json.loads(target.read_text())
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse runtime error on {url}: {report['runtimeError']}")
    if report.get("finalDisplayedUrl", url).split("?")[0] != url.split("?")[0]:
        raise RuntimeError(f"{url} ended on {report['finalDisplayedUrl']} (session refused?)")
    return report


def score(report: dict, category: str) -> int:
    return round((report["categories"][category]["score"] or 0) * 100)


def failing_audits(report: dict, category: str) -> list[str]:
    """The category's audits that lose points (weight > 0, score < 1), with Lighthouse's displayed value."""
    found = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = report["audits"][ref["id"]]
        if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
            shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            found.append(f"{ref['id']} {round(audit['score'] * 100)}{shown}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="check the tools only (see SMOKE_SKIP)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", default="", help="only these pages, e.g. boite,message (default: all)")
    options = parser.parse_args()
    runs = options.runs
    for tool, where in (
        ("node", shutil.which("node")),
        ("lighthouse", LIGHTHOUSE.exists()),
        ("chromium", Path(CHROME).exists()),
    ):
        if not where:
            print(
                f"bench_lighthouse: {tool} is missing (Node 20, `npm ci`, apt-get install chromium)",
                file=sys.stderr,
            )
            return 1
    version = subprocess.run(
        ["node", str(LIGHTHOUSE), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if version != "12.2.3":
        print(
            f"bench_lighthouse: Lighthouse {version or '?'} instead of 12.2.3: run `npm ci`", file=sys.stderr
        )
        return 1
    if options.smoke:
        print(f"bench_lighthouse: Lighthouse {version}, node and {CHROME} found; {SMOKE_SKIP}")
        return 0
    print(f"bench_lighthouse: {machine()}", flush=True)
    started = time.monotonic()
    env = production_env(os.environ.get("BENCH_LIGHTHOUSE_DATABASE_URL", DEFAULT_DB))
    ensure_database(env["DATABASE_URL"], env)
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "seed_demo", "--force", "-v", "0")
    pages = sessions_and_pages(env)
    if options.pages:
        pages = [page for page in pages if page[0] in options.pages.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"bench_lighthouse: database and static files ready in {time.monotonic() - started:.0f} s", flush=True
    )
    rows = []
    with gunicorn(env, free_port()) as base:
        for name, path, session in pages:
            reports = [lighthouse(base + path, session, OUT / f"{name}-{run}.json") for run in range(runs)]
            medians = {}
            misses = []
            for category, target in CATEGORIES.items():
                scores = [score(report, category) for report in reports]
                median = int(statistics.median_low(scores))
                medians[category] = median
                if median < target:
                    median_run = reports[scores.index(median)]
                    misses.append(
                        f"{category} {median} < {target}: " + ", ".join(failing_audits(median_run, category))
                    )
            rows.append((name, path, medians, misses))
            figures = " ".join(f"{category} {value}" for category, value in medians.items())
            elapsed = time.monotonic() - started
            print(
                f"bench_lighthouse: {name} {path}: {figures} (median of {runs}; {elapsed:.0f} s)", flush=True
            )
            for miss in misses:
                print(f"bench_lighthouse:   MISS {miss}", flush=True)
    print("\n| Page | Performance | Accessibilité | Bonnes pratiques |\n|---|---|---|---|")
    for name, path, medians, _ in rows:
        print(
            f"| {name} (`{path}`) | " + " | ".join(str(medians[category]) for category in CATEGORIES) + " |"
        )
    for name, _, _, misses in rows:
        for miss in misses:
            print(f"- {name}: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
