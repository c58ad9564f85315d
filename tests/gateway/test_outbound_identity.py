"""What every outgoing message carries and how outbound failures are named (issue 20, points 2 to 4):
X-MSS-NIL always (production needs MSS_NIL), S/MIME signatures only with a certificate allowing e-mail
protection (`openssl smime -verify` accepts them), TLS failures named as such, routes with an address."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from apps.gateway import mss_headers, signing, tls_failures
from apps.gateway.checks import check_outbound_identity
from apps.gateway.outbound import parse_route
from apps.gateway.pki import ensure_dev_pki, subject
from apps.messaging.delivery.bounce import do_send_report
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.transports import TemporaryFailure
from apps.messaging.models import Delivery, DeliveryState
from tests.gateway.conftest import PEER_DOMAIN, PEER_SUBJECT, list_domain
from tests.gateway.remote_operator import RemoteOperator
from tests.messaging.helpers import send

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
REMOTE = f"dr.voisin@{PEER_DOMAIN}"


@pytest.fixture
def outbound(pki, settings):
    """Our side configured as in production: TLS certificate (serverAuth/clientAuth only) and CAs."""
    list_domain(PEER_DOMAIN, pki.peer.dn)
    settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
    settings.GATEWAY_CERT_FILE = str(pki.server.cert_path)
    settings.GATEWAY_KEY_FILE = str(pki.server.key_path)
    settings.SMIME_CERT_FILE = settings.SMIME_KEY_FILE = ""
    yield settings


def _remote(pki, stem: str, names: tuple[str, ...], **issue: object) -> RemoteOperator:
    identity = pki.ca.issue(stem, subject(**PEER_SUBJECT), server_names=names, server=True, **issue)
    return RemoteOperator(identity, pki.ca.cert_path)


# --- X-MSS-NIL ---


def test_ensure_nil_prepends_the_header_only_when_missing():
    raw = b"From: a@b.fr\r\nSubject: x\r\n\r\nX-MSS-NIL: in the body\r\n"
    assert mss_headers.ensure_nil(raw, "NIL-1").startswith(b"X-MSS-NIL: NIL-1\r\nFrom:")
    already = b"x-mss-nil: OTHER\r\n" + raw
    assert mss_headers.ensure_nil(already, "NIL-1") == already
    with pytest.raises(ValueError):
        mss_headers.ensure_nil(raw, "no spaces allowed")


def test_every_outgoing_message_carries_x_mss_nil_even_a_report_we_built(outbound, pki):
    outbound.MSS_NIL = "TEST-NIL-20"
    with _remote(pki, "nil-mx", ("localhost",)) as remote:
        outbound.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{remote.port}"]
        report = (
            f"From: postmaster@demo.mssante.fr\r\nTo: {REMOTE}\r\nSubject: Accuse\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nlu\r\n"
        ).encode()
        message = do_send_report(report, recipient=REMOTE)
        do_deliver(Delivery.objects.get(message=message).pk)
    [got] = remote.received
    assert got.data.startswith(b"X-MSS-NIL: TEST-NIL-20\r\n")


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MSSANTE_DEV", "MSSANTE_TESTING", "MSS_NIL")}
    env.update(
        SECRET_KEY="x" * 50, DATABASE_URL="postgres://u@127.0.0.1:9/x", REDIS_URL="redis://127.0.0.1:9/0"
    )
    env.update(extra)
    return env


def test_production_settings_refuse_to_load_without_mss_nil():
    code = "import mssante_web.settings"
    refused = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_production_env(), capture_output=True, text=True
    )
    assert refused.returncode != 0 and "MSS_NIL" in refused.stderr
    accepted = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_production_env(MSS_NIL="DEV935997"), capture_output=True
    )
    assert accepted.returncode == 0, accepted.stderr


def test_the_deploy_check_names_mss_nil_and_the_signing_setting(outbound, pki):
    outbound.MSS_NIL = ""
    ids = {error.id: error.msg for error in check_outbound_identity()}
    assert "gateway.E001" in ids
    # The TLS certificate alone cannot sign: the check says which settings to fill.
    assert "gateway.E003" in ids and "SMIME_CERT_FILE" in ids["gateway.E003"]
    signer = pki.ca.issue_signing("check-signer", subject(CN="Signature OPERATEUR TEST", O="OPERATEUR TEST"))
    outbound.MSS_NIL = "DEV935997"
    outbound.SMIME_CERT_FILE, outbound.SMIME_KEY_FILE = str(signer.cert_path), str(signer.key_path)
    assert check_outbound_identity() == []


def test_make_run_sets_a_fake_nil_and_the_dev_pki_has_a_signing_certificate(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("devrun_for_test", ROOT / "scripts" / "devrun.py")
    assert spec is not None and spec.loader is not None
    devrun = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(devrun)
    monkeypatch.delenv("MSS_NIL", raising=False)
    env, _full = devrun.base_environment()
    assert env["MSS_NIL"] == devrun.DEMO_MSS_NIL and "FICTIF" in env["MSS_NIL"]
    assert mss_headers.is_valid_nil(env["MSS_NIL"])
    pki = ensure_dev_pki(tmp_path / "pki")
    from cryptography import x509

    signer = x509.load_pem_x509_certificate(pki.smime_cert_file.read_bytes())
    server = x509.load_pem_x509_certificate(pki.cert_file.read_bytes())
    assert signing.usage_problem(signer) is None
    assert "emailProtection" in (signing.usage_problem(server) or "")


# --- S/MIME signer ---


def test_a_tls_only_certificate_never_signs(outbound, pki, alice_bal, dr_alice, caplog):
    signing._warn_once.cache_clear()  # logged once per process and problem
    with _remote(pki, "sig-mx", ("localhost",)) as remote:
        outbound.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{remote.port}"]
        with caplog.at_level(logging.ERROR, logger="apps.gateway.signing"):
            send(alice_bal, dr_alice, [REMOTE], subject="Sans signature", text="Bonjour")
    [got] = remote.received
    assert b"multipart/signed" not in got.data.split(b"\r\n\r\n")[0]
    assert "SMIME_CERT_FILE" in caplog.text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl absent")
def test_openssl_verifies_the_signature_made_with_the_signing_certificate(
    outbound, pki, alice_bal, dr_alice, tmp_path
):
    signer = pki.ca.issue_signing("out-signer", subject(CN="Signature OPERATEUR TEST", O="OPERATEUR TEST"))
    outbound.SMIME_CERT_FILE, outbound.SMIME_KEY_FILE = str(signer.cert_path), str(signer.key_path)
    with _remote(pki, "sig2-mx", ("localhost",)) as remote:
        outbound.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{remote.port}"]
        send(alice_bal, dr_alice, [REMOTE], subject="Signé", text="Bonjour")
    [got] = remote.received
    (tmp_path / "got.eml").write_bytes(got.data)
    verify = subprocess.run(
        ["openssl", "smime", "-verify", "-in", str(tmp_path / "got.eml"), "-CAfile", str(pki.ca.cert_path)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "Verification successful" in verify.stderr, verify.stderr


# --- TLS failures and routes ---


def _attempt(outbound, alice_bal, dr_alice, route: str, caplog) -> Delivery:
    outbound.GATEWAY_ROUTES = [route]
    message = send(alice_bal, dr_alice, [REMOTE], subject="x", text="y", deliver=False)
    delivery = Delivery.objects.get(message=message)
    with caplog.at_level(logging.WARNING, logger="apps.gateway.outbound"), pytest.raises(TemporaryFailure):
        do_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.QUEUED
    assert "injoignable" not in delivery.error_text
    return delivery


def test_a_name_mismatch_is_named_on_the_timeline_and_in_the_log(outbound, pki, alice_bal, dr_alice, caplog):
    with _remote(pki, "other-name-mx", ("mx.ailleurs.test",)) as remote:
        delivery = _attempt(outbound, alice_bal, dr_alice, f"{PEER_DOMAIN}=127.0.0.1:{remote.port}", caplog)
    assert "ne correspond pas au nom ou à l'adresse IP « 127.0.0.1 »" in delivery.error_text
    assert "TLS failure (name_mismatch)" in caplog.text and remote.received == []


def test_an_untrusted_certificate_is_named(outbound, pki, alice_bal, dr_alice, caplog):
    foreign = pki.other_ca.issue(
        "foreign-mx-20", subject(**PEER_SUBJECT), server_names=("localhost",), server=True
    )
    with RemoteOperator(foreign, pki.ca.cert_path) as remote:
        delivery = _attempt(outbound, alice_bal, dr_alice, f"{PEER_DOMAIN}=localhost:{remote.port}", caplog)
    assert "n'est pas reconnu" in delivery.error_text and "TLS failure (untrusted)" in caplog.text


def test_an_expired_certificate_is_named(outbound, pki, alice_bal, dr_alice, caplog):
    with _remote(pki, "expired-mx", ("localhost",), days=0) as remote:
        delivery = _attempt(outbound, alice_bal, dr_alice, f"{PEER_DOMAIN}=localhost:{remote.port}", caplog)
    assert "a expiré" in delivery.error_text and "TLS failure (expired)" in caplog.text


def test_our_certificate_refused_by_the_remote_is_named(outbound, pki, alice_bal, dr_alice, caplog):
    identity = pki.ca.issue("picky-mx", subject(**PEER_SUBJECT), server_names=("localhost",), server=True)
    with RemoteOperator(identity, pki.other_ca.cert_path) as remote:  # trusts another CA than ours
        delivery = _attempt(outbound, alice_bal, dr_alice, f"{PEER_DOMAIN}=localhost:{remote.port}", caplog)
    # TLS 1.3: the refusal arrives after the handshake, often seen as the connection closing.
    assert "certificat de notre plateforme" in delivery.error_text
    assert "TLS failure (our_certificate_refused)" in caplog.text or (
        "TLS failure (closed_after_handshake)" in caplog.text
    )


def test_a_route_connects_to_its_address_and_checks_the_host_name(outbound, pki, alice_bal, dr_alice):
    outbound.SMIME_SIGN_OUTBOUND = False
    with _remote(pki, "named-mx", ("mx.voisin.test",)) as remote:
        outbound.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=mx.voisin.test:{remote.port}@127.0.0.1"]
        message = send(alice_bal, dr_alice, [REMOTE], subject="Par adresse", text="Bonjour")
    assert Delivery.objects.get(message=message).state == DeliveryState.DELIVERED
    assert len(remote.received) == 1
    assert parse_route("a.fr=mx.a.fr:2525@[::1]") == ("a.fr", parse_route("a.fr=mx.a.fr:2525@::1")[1])
    with pytest.raises(ValueError):
        parse_route("a.fr=mx.a.fr")


def test_a_certificate_check_of_our_own_maps_to_a_kind():
    class CertificateRevokedForTest(Exception):
        pass

    tls_failures.register_tls_failure(CertificateRevokedForTest, tls_failures.TlsFailureKind.REVOKED)
    failure = tls_failures.classify(CertificateRevokedForTest("serial 12 revoked"))
    assert failure is not None and failure.kind == tls_failures.TlsFailureKind.REVOKED
    assert "révoqué" in failure.french("a.fr", "mx.a.fr")
    assert tls_failures.classify(ConnectionRefusedError()) is None
    assert tls_failures.classify(ssl.SSLError(1, "x")) is not None
