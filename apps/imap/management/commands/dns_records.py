"""`manage.py dns_records`: the DNS records an operator publishes for its mail domains (zone-file lines).

MX to the inbound gateway, and the RFC 6186 SRV records through which mail clients and practice software
find IMAP (implicit TLS preferred, STARTTLS) and submission (Ref#2 SC.MSS/CONF.04).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Affiche les enregistrements DNS (MX, SRV RFC 6186) à publier pour les domaines de l'opérateur."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--mx", default=settings.GATEWAY_HOSTNAME, help="host name of the inbound gateway"
        )
        parser.add_argument(
            "--imap-host", default=settings.IMAP_PUBLIC_HOST or settings.SUBMISSION_PUBLIC_HOST
        )
        parser.add_argument("--submission-host", default=settings.SUBMISSION_PUBLIC_HOST)
        parser.add_argument("--ttl", type=int, default=3600)

    def handle(self, *args: Any, **options: Any) -> None:
        mx, imap, submission = options["mx"], options["imap_host"], options["submission_host"]
        wanted = [
            ("--mx / GATEWAY_HOSTNAME", mx),
            ("--imap-host / IMAP_PUBLIC_HOST", imap),
            ("--submission-host / SUBMISSION_PUBLIC_HOST", submission),
        ]
        missing = [name for name, value in wanted if not value]
        if missing:
            raise CommandError("Missing host name(s): " + ", ".join(missing))
        ttl = options["ttl"]
        imaps_port = settings.IMAP_PUBLIC_PORT
        for domain in settings.OPERATOR_DOMAINS:
            zone = domain.rstrip(".") + "."
            self.stdout.write(f"; {domain}")
            self.stdout.write(f"{zone}\t{ttl}\tIN\tMX\t10 {mx.rstrip('.')}.")
            self.stdout.write(f"_imaps._tcp.{zone}\t{ttl}\tIN\tSRV\t0 1 {imaps_port} {imap.rstrip('.')}.")
            self.stdout.write(f"_imap._tcp.{zone}\t{ttl}\tIN\tSRV\t10 1 143 {imap.rstrip('.')}.")
            port = settings.SUBMISSION_PUBLIC_PORT
            self.stdout.write(
                f"_submission._tcp.{zone}\t{ttl}\tIN\tSRV\t0 1 {port} {submission.rstrip('.')}."
            )
            self.stdout.write(f"_pop3._tcp.{zone}\t{ttl}\tIN\tSRV\t0 0 0 .")
            self.stdout.write(f"_pop3s._tcp.{zone}\t{ttl}\tIN\tSRV\t0 0 0 .")
