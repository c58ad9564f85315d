"""`manage.py run_submission`: SMTP submission for mail clients and practice software (STARTTLS + AUTH).

manage.py run_submission                       # settings SUBMISSION_* (production: port 587)
manage.py run_submission --port 2587 --dev-pki # `make run`
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.gateway.dev_tls import listener_files
from apps.gateway.server import default_hostname
from apps.gateway.submission import SubmissionConfig, SubmissionServer


def submission_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class Command(BaseCommand):
    help = "Serveur de soumission SMTP (logiciels de messagerie et logiciels métier : STARTTLS puis AUTH)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.SUBMISSION_HOST)
        parser.add_argument("--port", type=int, default=settings.SUBMISSION_PORT)
        parser.add_argument("--cert", default=settings.SUBMISSION_CERT_FILE or settings.GATEWAY_CERT_FILE)
        parser.add_argument("--key", default=settings.SUBMISSION_KEY_FILE or settings.GATEWAY_KEY_FILE)
        parser.add_argument("--dev-pki", action="store_true", help="DEV/tests only: the PKI under var/pki")

    def handle(self, *args: Any, **options: Any) -> None:
        cert, key = listener_files(
            options["cert"],
            options["key"],
            dev_pki=options["dev_pki"],
            settings_names="SUBMISSION_CERT_FILE and SUBMISSION_KEY_FILE (or GATEWAY_*)",
        )
        try:
            context = submission_context(cert, key)
        except OSError as exc:
            raise CommandError(f"TLS configuration refused: {exc}") from exc
        config = SubmissionConfig(
            host=options["host"],
            port=options["port"],
            tls_context=context,
            hostname=default_hostname(settings.GATEWAY_HOSTNAME or ""),
            data_size_limit=settings.MESSAGE_MAX_BYTES,
        )
        asyncio.run(self._serve(SubmissionServer(config)))

    async def _serve(self, server: SubmissionServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        self.stdout.write(f"Soumission SMTP prête sur {server.config.host}:{server.port} (STARTTLS, AUTH)")
        self.stdout.flush()
        await stop.wait()
        await server.stop()
