"""`manage.py run_smtp`: the inbound SMTP gateway (STARTTLS and implicit TLS listeners, mutual TLS).

manage.py run_smtp                       # settings GATEWAY_* (production: port 25, IGC-Santé)
manage.py run_smtp --port 2525 --dev-pki # `make run`: a development PKI under var/pki, made if absent
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from apps.gateway.pki import DEV_PEER_DOMAIN, ensure_dev_pki
from apps.gateway.server import GatewayConfig, GatewayServer, default_hostname
from apps.gateway.tls import server_context


class Command(BaseCommand):
    help = "Passerelle SMTP entrante (autres opérateurs MSSanté, TLS mutuel)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.GATEWAY_HOST)
        parser.add_argument("--port", type=int, default=settings.GATEWAY_PORT, help="STARTTLS listener")
        parser.add_argument(
            "--smtps-port", type=int, default=settings.GATEWAY_SMTPS_PORT, help="implicit TLS; 0 = none"
        )
        parser.add_argument("--cert", default=settings.GATEWAY_CERT_FILE)
        parser.add_argument("--key", default=settings.GATEWAY_KEY_FILE)
        parser.add_argument("--ca", action="append", default=None, help="CA bundle (repeatable)")
        parser.add_argument(
            "--dev-pki", action="store_true", help="DEV/tests only: use (and create) the PKI under var/pki"
        )
        parser.add_argument(
            "--reuse-port",
            action="store_true",
            help="share the ports with other run_smtp processes (SO_REUSEPORT): restart them one at a time",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.GATEWAY_PROCESSES,
            help="gateway processes sharing the ports (SO_REUSEPORT): one per core scales past the GIL",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cert, key, cas = options["cert"], options["key"], options["ca"] or list(settings.GATEWAY_CA_FILES)
        hostname = default_hostname(settings.GATEWAY_HOSTNAME or "")
        if options["dev_pki"]:
            if not (settings.DEV or settings.TESTING):
                raise CommandError("--dev-pki is for `make run` and tests only (MSSANTE_DEV=1)")
            pki = ensure_dev_pki(Path(settings.VAR_DIR) / "pki", hostname="localhost")
            cert, key, cas = str(pki.cert_file), str(pki.key_file), [str(pki.ca_file)]
            self.stdout.write(
                f"PKI de développement : {pki.ca_file.parent}. Essai en opérateur voisin : swaks --tls "
                f"--tls-cert {pki.peer_cert_file} --tls-key {pki.peer_key_file} --server 127.0.0.1:"
                f"{options['port']} --from x@{DEV_PEER_DOMAIN} --to alice.martin@demo.mssante.fr"
            )
        try:
            context = server_context(cert, key, cas)
        except (ImproperlyConfigured, OSError) as exc:
            raise CommandError(f"TLS configuration refused: {exc}") from exc
        config = GatewayConfig(
            host=options["host"],
            port=options["port"],
            smtps_port=options["smtps_port"] or None,
            tls_context=context,
            hostname=hostname,
            data_size_limit=settings.MESSAGE_MAX_BYTES,
            db_threads=settings.GATEWAY_DB_THREADS,
            max_recipients=settings.GATEWAY_MAX_RECIPIENTS,
            timeout=settings.GATEWAY_SESSION_TIMEOUT,
            reuse_port=options["processes"] > 1 or options["reuse_port"],
        )
        if options["verbosity"] < 2:
            # aiosmtpd logs every command line (addresses included) at INFO: one line per message is ours.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        if options["processes"] > 1:
            self._run_processes(config, options["processes"])
        else:
            asyncio.run(self._serve(GatewayServer(config)))

    def _run_processes(self, config: GatewayConfig, count: int) -> None:
        """Fork `count` gateways on the same ports; SIGTERM/SIGINT to this parent stops them all."""
        connections.close_all()  # no database socket may be shared with the children
        children = []
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    asyncio.run(self._serve(GatewayServer(config)))
                except BaseException:
                    code = 1
                    raise
                finally:
                    os._exit(code)
            children.append(pid)

        def forward(signum: int, _frame: object) -> None:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        failed = 0
        for child in children:
            _pid, status = os.waitpid(child, 0)
            failed += os.waitstatus_to_exitcode(status) != 0
        if failed:
            raise CommandError(f"{failed} gateway process(es) of {count} exited with an error")

    async def _serve(self, server: GatewayServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        ports = f"{server.port} (STARTTLS)" + (f", {server.smtps_port} (TLS)" if server.smtps_port else "")
        self.stdout.write(f"Passerelle SMTP prête sur {server.config.host} : {ports}", ending="\n")
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("Arrêt de la passerelle SMTP…")
        await server.stop()
