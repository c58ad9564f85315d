"""swaks (Debian's SMTP test tool, Perl/OpenSSL) as a foreign operator: a second, independent TLS client."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from apps.gateway.models import InboundMessage
from tests.gateway.conftest import PEER_DOMAIN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("swaks") is None, reason="swaks is not installed (apt-get install swaks)"
    ),
]


def swaks(port: int, *options: str) -> subprocess.CompletedProcess[str]:
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--tls", "--from", f"dr.voisin@{PEER_DOMAIN}"]
    argv += ["--to", "alice.martin@demo.mssante.fr", "--helo", "mx.hopital-voisin.fr", *options]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_swaks_with_the_listed_certificate_is_accepted(gateway, pki, alice_bal):
    result = swaks(gateway.port, "--tls-cert", str(pki.peer.cert_path), "--tls-key", str(pki.peer.key_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "<~  250 2.0.0 Message accepte et enregistre" in result.stdout
    assert InboundMessage.objects.count() == 1


def test_swaks_without_a_certificate_is_refused_at_mail_from(gateway, alice_bal):
    result = swaks(gateway.port)

    assert result.returncode != 0
    assert "530 5.7.0 Certificat client requis" in result.stdout  # swaks marks it "<~*" under TLS
    assert InboundMessage.objects.count() == 0
