#!/usr/bin/env python3
"""`make run`: migrate, seed the demo, start every process in this terminal; Ctrl-C stops them all.

With DATABASE_URL and REDIS_URL set it runs the real topology -- web, Celery worker, Celery beat, the
inbound SMTP gateway (`run_smtp`) and SMTP submission (`run_submission`), both on a development PKI -- on
PostgreSQL and Redis. Without them it runs the web server alone on SQLite, with tasks executed in-process;
periodic jobs are then run by hand from their commands.

Each child runs in its own process group, so the terminal's Ctrl-C reaches only this script, which then
stops the children in order (web first, so nothing new is enqueued, then worker, beat, SMTP), waits for
them and kills any group that lingers. Children also get SIGTERM if this script dies abruptly (Linux
PR_SET_PDEATHSIG), so no orphan survives a `kill -9` either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
HOST = "127.0.0.1"
PORT = int(os.environ.get("DEVRUN_PORT", "8000"))
IMAP_PORT = os.environ.get("DEVRUN_IMAP_PORT", "2143")
IMAPS_PORT = os.environ.get("DEVRUN_IMAPS_PORT", "2993")
URL = f"http://{HOST}:{PORT}"
VAR_DIR = Path(os.environ.get("MSSANTE_VAR_DIR") or ROOT / "var")  # same rule as settings.py
READY_TIMEOUT = 120
STOP_TIMEOUT = 15
COLOURS = {"web": 32, "worker": 36, "beat": 35, "smtp": 33, "submission": 34, "imap": 31}


def say(text: str) -> None:
    print(f"devrun | {text}", flush=True)


def fail(text: str) -> None:
    print(f"\ndevrun | ERREUR : {text}\n", file=sys.stderr, flush=True)
    sys.exit(1)


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def run_step(title: str, argv: list[str], env: dict[str, str]) -> None:
    say(title)
    result = subprocess.run(argv, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        fail(f"« {' '.join(argv[1:])} » a échoué (code {result.returncode}) ; voir les messages ci-dessus.")


# --- Checks before starting ---


def check_port_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex((HOST, PORT)) == 0:
            fail(
                f"le port {PORT} est déjà utilisé (un autre `make run` ?). "
                "Arrêtez-le, ou lancez DEVRUN_PORT=8001 make run."
            )


def _database_config(env: dict[str, str]) -> dict:
    from mssante_web.env import parse_database_url

    return parse_database_url(env["DATABASE_URL"], ROOT)


def _connect_postgres(db: dict, **options: Any) -> Any:
    import psycopg

    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="postgres",
        **options,
    )


def check_services(env: dict[str, str]) -> None:
    """PostgreSQL and Redis must answer before anything starts: a clear message beats a stack trace."""
    import redis

    advice = (
        "\n       Démarrez les services (`bash scripts/ensure_services.sh`), ou lancez `make run` sans"
        "\n       DATABASE_URL ni REDIS_URL pour le mode SQLite."
    )
    db = _database_config(env)
    if db["ENGINE"].endswith("postgresql"):
        try:
            _connect_postgres(db, connect_timeout=3).close()
        except Exception as exc:  # noqa: BLE001 - any failure: say which service and why
            fail(f"PostgreSQL ne répond pas à DATABASE_URL ({type(exc).__name__}: {exc}).{advice}")
    try:
        redis.Redis.from_url(env["REDIS_URL"], socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        fail(f"Redis ne répond pas à REDIS_URL ({type(exc).__name__}: {exc}).{advice}")


def ensure_database(env: dict[str, str]) -> None:
    """Create the PostgreSQL database named in DATABASE_URL if it does not exist yet (first `make run`)."""
    from psycopg import sql

    db = _database_config(env)
    if not db["ENGINE"].endswith("postgresql"):
        return
    with _connect_postgres(db, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    say(f"base PostgreSQL {db['NAME']} créée")


# --- Children ---


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: children simply lack the parent-death signal
    _LIBC = None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec, so it only calls into the already loaded libc.
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: SIGTERM when devrun dies, even by SIGKILL


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group: the terminal's Ctrl-C reaches devrun only, devrun stops it
            preexec_fn=_die_with_parent,
        )
        self.pump = threading.Thread(target=self._prefix_output, args=(self.process.stdout,), daemon=True)
        self.pump.start()

    def _prefix_output(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        colour = COLOURS.get(self.name, 0)
        prefix = f"\033[{colour}m{self.name:<6} |\033[0m " if sys.stdout.isatty() else f"{self.name:<6} | "
        for raw in iter(stream.readline, b""):
            sys.stdout.write(prefix + raw.decode(errors="replace").rstrip("\n") + "\n")
            sys.stdout.flush()

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def stop_all(children: list[Child]) -> None:
    for child in children:
        if child.group_alive():
            say(f"arrêt de {child.name}…")
            child.signal_group(signal.SIGTERM)
            _wait_group(child, STOP_TIMEOUT)
    for child in children:
        if child.group_alive():
            say(f"{child.name} ne s'arrête pas : SIGKILL")
            child.signal_group(signal.SIGKILL)
            _wait_group(child, 5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
        child.pump.join(timeout=2)


def _wait_group(child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.process.poll()  # reap the leader so the group can disappear
        if not child.group_alive():
            return
        time.sleep(0.1)


# --- Main ---


# X-MSS-NIL goes on every message (Ref#2 ECO.2.4.3); `make run` is no referenced product: a value no one
# could take for a real convergence reference.
DEMO_MSS_NIL = "DEMO-FICTIF-NON-REFERENCE"
DEV_PKI = VAR_DIR / "pki"


def base_environment() -> tuple[dict[str, str], bool]:
    env = dict(os.environ, MSSANTE_DEV="1", PYTHONUNBUFFERED="1")
    env.setdefault("MSS_NIL", DEMO_MSS_NIL)
    # The development PKI's S/MIME signing certificate (made with the PKI, below): outgoing mail is signed
    # with a certificate allowing e-mail protection, never with the TLS one.
    env.setdefault("SMIME_CERT_FILE", str(DEV_PKI / "smime.crt"))
    env.setdefault("SMIME_KEY_FILE", str(DEV_PKI / "smime.key"))
    full = bool(env.get("DATABASE_URL")) and bool(env.get("REDIS_URL"))
    if not full:
        # Half a topology (PostgreSQL without Redis, or the reverse) is no mode: SQLite, tasks in-process.
        for name in ("DATABASE_URL", "REDIS_URL"):
            if env.pop(name, None):
                say(f"{name} ignorée : il faut DATABASE_URL et REDIS_URL ensemble pour le mode complet.")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if full and list(ROOT.glob("apps/*/management/commands/run_imap.py")):
        env["HEALTHZ_IMAP"] = f"{HOST}:{IMAP_PORT}"  # ready means the IMAP listener greets too
    return env, full


def smtp_ports() -> tuple[str, str]:
    """The gateway's STARTTLS and implicit-TLS ports: the banner prints the ones really listened on."""
    return os.environ.get("DEVRUN_SMTP_PORT", "2525"), os.environ.get("DEVRUN_SMTPS_PORT", "2465")


def submission_port() -> str:
    return os.environ.get("DEVRUN_SUBMISSION_PORT", "2587")


def plan_children(full: bool) -> list[tuple[str, list[str]]]:
    reload = [] if os.environ.get("DEVRUN_RELOAD") == "1" else ["--noreload"]
    plan = [("web", manage("runserver", f"{HOST}:{PORT}", *reload))]
    if not full:
        return plan
    celery = [PYTHON, "-m", "celery", "-A", "mssante_web"]
    plan.append(("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2", "-n", "devrun@%h"]))
    plan.append(("beat", [*celery, "beat", "--loglevel=INFO", "-s", str(VAR_DIR / "celerybeat-schedule")]))
    # --dev-pki: a development CA, our server certificate and a peer's, made under var/pki if absent.
    ports = ["--port", smtp_ports()[0], "--smtps-port", smtp_ports()[1]]
    plan.append(("smtp", manage("run_smtp", "--host", HOST, *ports, "--dev-pki")))
    plan.append(
        ("submission", manage("run_submission", "--host", HOST, "--port", submission_port(), "--dev-pki"))
    )
    ports = ["--port", IMAP_PORT, "--imaps-port", IMAPS_PORT]
    plan.append(("imap", manage("run_imap", "--host", HOST, *ports, "--dev-pki")))
    return plan


def wait_until_ready(children: list[Child]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        dead = [child.name for child in children if not child.alive()]
        if dead:
            say(f"{', '.join(dead)} s'est arrêté au démarrage ; voir les messages ci-dessus.")
            return False
        try:
            with urllib.request.urlopen(f"{URL}/healthz", timeout=5) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except urllib.error.HTTPError:
            pass  # 503: up, but a dependency (usually the worker) is not ready yet
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    say(f"{URL}/healthz ne répond pas 200 après {READY_TIMEOUT} s.")
    return False


def banner(full: bool) -> None:
    from mssante_web.management.demo_personas import DEMO_PASSWORD, PERSONAS

    mode = (
        "PostgreSQL + Redis, worker et beat Celery"
        if full
        else "SQLite, tâches exécutées dans le processus web"
    )
    lines = [
        "",
        "=" * 78,
        f"  MSSanté (démonstration) est prêt : {URL}/   [{mode}]",
        "",
        f"  Comptes de démonstration, mot de passe commun : {DEMO_PASSWORD}",
    ]
    for one in PERSONAS:
        lines.append(f"    {one.email:<32} {one.role}")
    lines += [
        "",
        "  Code du second facteur (TOTP) d'un compte, dans un autre terminal :",
        "    make totp EMAIL=alice.martin@demo.mssante.fr",
        "    (ou : MSSANTE_DEV=1 .venv/bin/python manage.py demo_totp alice.martin@demo.mssante.fr)",
        f"  Le patient (paul.bernard@example.test) entre par {URL}/patient/connexion/",
        "  (code : make totp EMAIL=paul.bernard@example.test).",
        "",
        "  Courriels envoyés hors espace de confiance (avis aux patients, avis d'inactivité) : affichés ici,",
        "  préfixés « web » (ou « worker »), par le backend console de Django.",
    ]
    if full:
        starttls, smtps = smtp_ports()
        lines += [
            "",
            f"  SMTP entrant des autres opérateurs (TLS mutuel) : {HOST}:{starttls}"
            f" (TLS implicite : {smtps}) ; soumission pour les logiciels de messagerie",
            f"  (STARTTLS + mot de passe d'application) : {HOST}:{submission_port()}",
            f"  IMAP pour logiciels de messagerie et logiciels métier : {HOST}:{IMAP_PORT} (STARTTLS),",
            f"  {HOST}:{IMAPS_PORT} (TLS) ; identifiant = adresse e-mail, mot de passe d'application.",
        ]
    if not full:
        lines += [
            "",
            "  IMAP et SMTP ne sont pas démarrés en mode SQLite : ils ont besoin de PostgreSQL (UID IMAP et",
            "  notifications) et de Redis. Lancez `make run` avec DATABASE_URL et REDIS_URL.",
            "",
            "  Tâches périodiques (pas de beat en mode SQLite) : lancez au besoin",
            "    MSSANTE_DEV=1 .venv/bin/python manage.py run_periodic        (toutes, une fois)",
            "    MSSANTE_DEV=1 .venv/bin/python manage.py run_periodic --list (la liste)",
        ]
    lines += ["", "  Ctrl-C pour arrêter.", "=" * 78, ""]
    print("\n".join(lines), flush=True)


def main() -> int:
    os.chdir(ROOT)
    env, full = base_environment()
    check_port_free()
    if full:
        check_services(env)
        ensure_database(env)
    run_step("migrations…", manage("migrate", "--noinput"), env)
    run_step("données de démonstration…", manage("seed_demo", "--verbosity", "0"), env)  # logins: banner
    # The gateway's development PKI (its signing certificate is SMIME_CERT_FILE), before anything signs.
    make_pki = f"import pathlib, apps.gateway.pki as p; p.ensure_dev_pki(pathlib.Path({str(DEV_PKI)!r}))"
    run_step("PKI de développement…", [PYTHON, "-c", make_pki], env)

    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    children: list[Child] = []
    try:
        for name, argv in plan_children(full):
            say(f"démarrage de {name} : {' '.join(Path(a).name if a == PYTHON else a for a in argv)}")
            children.append(Child(name, argv, env))
        if not wait_until_ready(children):
            return 1
        banner(full)
        while not stopping.is_set():
            dead = [child for child in children if not child.alive()]
            if dead:
                say(f"{dead[0].name} s'est arrêté (code {dead[0].process.returncode}) : arrêt de tout.")
                return 1
            stopping.wait(0.5)
        say("arrêt demandé")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all(children)
        say("tout est arrêté.")


if __name__ == "__main__":
    sys.exit(main())
