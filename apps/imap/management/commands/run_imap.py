"""`manage.py run_imap`: the IMAP server for mail clients and practice software (STARTTLS and implicit TLS).

manage.py run_imap                                  # settings IMAP_* (production: 143 and 993)
manage.py run_imap --port 2143 --imaps-port 2993 --dev-pki   # `make run`
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.gateway.dev_tls import listener_files
from apps.imap.server import ImapConfig, ImapServer, tls_context


class Command(BaseCommand):
    help = (
        "Serveur IMAP (logiciels de messagerie et logiciels métier : STARTTLS ou TLS, puis authentification)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.IMAP_HOST)
        parser.add_argument("--port", type=int, default=settings.IMAP_PORT, help="STARTTLS listener")
        parser.add_argument(
            "--imaps-port", type=int, default=settings.IMAPS_PORT, help="implicit TLS; 0 = none"
        )
        parser.add_argument(
            "--cert",
            default=settings.IMAP_CERT_FILE or settings.SUBMISSION_CERT_FILE or settings.GATEWAY_CERT_FILE,
        )
        parser.add_argument(
            "--key",
            default=settings.IMAP_KEY_FILE or settings.SUBMISSION_KEY_FILE or settings.GATEWAY_KEY_FILE,
        )
        parser.add_argument("--dev-pki", action="store_true", help="DEV/tests only: the PKI under var/pki")

    def handle(self, *args: Any, **options: Any) -> None:
        cert, key = listener_files(  # one development CA for every local listener (--dev-pki)
            options["cert"],
            options["key"],
            dev_pki=options["dev_pki"],
            settings_names="IMAP_CERT_FILE and IMAP_KEY_FILE (or SUBMISSION_*/GATEWAY_*)",
        )
        try:
            context = tls_context(cert, key)
        except OSError as exc:
            raise CommandError(f"TLS configuration refused: {exc}") from exc
        config = ImapConfig(
            host=options["host"],
            port=options["port"],
            imaps_port=options["imaps_port"] or None,
            tls_context=context,
            db_threads=settings.IMAP_DB_THREADS,
            idle_timeout=settings.IMAP_IDLE_TIMEOUT,
            max_literal=settings.MESSAGE_MAX_BYTES,
            sessions_per_user=settings.IMAP_SESSIONS_PER_USER,
            sessions_per_address=settings.IMAP_SESSIONS_PER_ADDRESS,
        )
        asyncio.run(self._serve(ImapServer(config)))

    async def _serve(self, server: ImapServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        ports = f"{server.port} (STARTTLS)" + (f", {server.imaps_port} (TLS)" if server.imaps_port else "")
        self.stdout.write(f"Serveur IMAP prêt sur {server.config.host} : {ports}")
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("Arrêt du serveur IMAP…")
        await server.stop()
