"""`/healthz`: is the database answering, the broker reachable, at least one worker alive, and (when
HEALTHZ_IMAP names it) the IMAP listener greeting? Are the certificate revocation lists fresh (status
"degraded" with HTTP 200 when one is past its nextUpdate)?

Load balancers and monitoring poll it; it answers 503 as soon as one dependency is down so that a broken
node is taken out of rotation. It reveals no data, only component states: no host names, no URLs, no
worker names, no exception messages (they can carry DSNs) -- just the exception class.

Every probe is bounded in time (database connect timeout, broker connect/socket timeouts, worker ping
timeout) so a dependency that hangs instead of refusing still gives a quick 503 rather than a stuck probe.
A healthy node answers as soon as the first worker replies (`count` is then 1: "at least one worker").
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.backup.selectors import health_summary as backup_health
from mssante_web.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 2.0
log = logging.getLogger(__name__)


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def check_database(alias: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    started = time.monotonic()
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", the class name says why
        # Drop the broken connection now, so the next request reconnects instead of reusing it.
        with contextlib.suppress(Exception):
            connection.close()
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": _elapsed_ms(started)}


def _broker_connection() -> Any:
    # A fresh connection (not the app's pool) with short timeouts: the probe must never hang on a dead host.
    return celery_app.connection_for_write(
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options={
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS + settings.HEALTHZ_WORKER_TIMEOUT,
            "max_retries": 0,
        },
    )


def check_broker_and_workers() -> tuple[dict[str, Any], dict[str, Any]]:
    """Connect to the broker once, then ask the workers over that connection who is alive."""
    if celery_app.conf.task_always_eager:
        in_process = {"ok": True, "mode": "in-process"}
        return in_process, dict(in_process)
    started = time.monotonic()
    with _broker_connection() as conn:
        try:
            conn.ensure_connection(max_retries=0)
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "error": type(exc).__name__}, {"ok": False, "error": "broker down"}
        broker = {"ok": True, "ms": _elapsed_ms(started)}
        try:
            # limit=1: answer as soon as one worker replies instead of always waiting the whole timeout.
            replies = (
                celery_app.control.ping(timeout=settings.HEALTHZ_WORKER_TIMEOUT, connection=conn, limit=1)
                or []
            )
        except Exception as exc:  # noqa: BLE001
            return broker, {"ok": False, "error": type(exc).__name__}
    return broker, {"ok": bool(replies), "count": len(replies)}


def check_imap(address: str) -> dict[str, Any]:
    """A TCP connection to the IMAP listener (`host:port`, STARTTLS port) must get its `* OK` greeting."""
    import socket

    started = time.monotonic()
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection(
            (host or "127.0.0.1", int(port)), timeout=BROKER_TIMEOUT_SECONDS
        ) as sock:
            sock.settimeout(BROKER_TIMEOUT_SECONDS)
            greeting = sock.recv(256)
            with contextlib.suppress(OSError):
                sock.sendall(b"h LOGOUT\r\n")
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": type(exc).__name__}
    if not greeting.startswith(b"* OK"):
        return {"ok": False, "error": "no greeting"}
    return {"ok": True, "ms": _elapsed_ms(started)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = check_database()
    broker, workers = check_broker_and_workers()
    ok = database["ok"] and broker["ok"] and workers["ok"]
    revocation = check_revocation_lists() if database["ok"] else {"ok": False, "error": "database down"}
    body = {
        "status": "ok" if ok and revocation["ok"] else "degraded",
        "database": database,
        "broker": broker,
        "workers": workers,
        "revocation": revocation,
    }
    if database["ok"]:
        # Informational: a failed drill is an alert for monitoring, not a reason to take web nodes out of
        # rotation, so it does not change the status code.
        with contextlib.suppress(Exception):
            body["backups"] = backup_health()
    imap_address = str(getattr(settings, "HEALTHZ_IMAP", "") or "")
    if imap_address:
        imap = check_imap(imap_address)
        body["imap"] = imap
        ok = ok and imap["ok"]
        if not ok:
            body["status"] = "degraded"
    # Stale CRLs degrade every node alike (soft fail, ADR 0018): still 200, so that no node is taken out.
    response = JsonResponse(body, status=200 if ok else 503)
    if not ok:
        # A 503 here is a state the probe reports (e.g. the worker still booting under `make run`), not an
        # error of the application: one WARNING naming the components down, instead of django.request's ERROR.
        names = ("database", "broker", "workers", "imap")
        down = [name for name in names if name in body and not body[name]["ok"]]  # type: ignore[index]
        log.warning("healthz: degraded (%s)", ", ".join(down))
        response._has_been_logged = True  # type: ignore[attr-defined]  # read by django.utils.log.log_response
    return response


def check_revocation_lists() -> dict[str, Any]:
    """CRLs past their nextUpdate: revocation checking is degraded (counts only, no issuer names)."""
    from apps.trust.revocation import stale_crls

    try:
        stale = len(stale_crls())
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": stale == 0, "stale_crls": stale}
