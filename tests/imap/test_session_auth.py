"""The IMAP session against a live server: TLS (STARTTLS, implicit, >= 1.2), authentication with an
application password or a Pro Santé Connect token (XOAUTH2, OAUTHBEARER), token expiry, the login rate
limiter, session limits, patients refused, idle timeout and graceful shutdown."""

from __future__ import annotations

import base64
import imaplib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest

from apps.audit.models import AuditEvent
from tests.imap.conftest import app_password
from tests.psc.conftest import psc_doctor, psc_provider  # noqa: F401 (fixtures used by name)


def test_plain_channel_offers_starttls_only(connect, dr_alice):
    client = imaplib.IMAP4("localhost", connect.server.port, timeout=20)
    assert {"STARTTLS", "LOGINDISABLED"} <= set(client.capabilities)
    typ, data = client._simple_command("LOGIN", "alice", "x")  # imaplib.login() refuses LOGINDISABLED itself
    assert typ == "NO" and data[0].startswith(b"[PRIVACYREQUIRED]")
    client.starttls(connect.pki.client_context())
    caps = set(client.capabilities)
    assert {"AUTH=XOAUTH2", "AUTH=OAUTHBEARER", "AUTH=PLAIN"} <= caps and "STARTTLS" not in caps
    assert client.login(dr_alice.email, app_password(dr_alice))[0] == "OK"
    client.logout()


def test_app_password_login_and_refusals_are_journaled(connect, dr_alice):
    secret = app_password(dr_alice)
    client = connect.imaplib()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(dr_alice.email, "mauvais-mot-de-passe")
    assert client.login(dr_alice.email, secret)[0] == "OK"
    client.logout()
    refused = AuditEvent.objects.get(action="imap.login_refused")
    assert refused.details["identifier"] == dr_alice.email and refused.outcome == "denied"
    login = AuditEvent.objects.get(action="imap.login")
    assert login.actor_id == dr_alice.pk and login.details["channel"] == "imap"


def test_authenticate_plain_with_initial_response_and_tls_below_1_2_refused(connect, dr_alice):
    secret = app_password(dr_alice)
    client = connect.imaplib()
    typ, _ = client.authenticate("PLAIN", lambda _: f"\0{dr_alice.email}\0{secret}".encode())
    assert typ == "OK"
    client.logout()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", connect.server.imaps_port), timeout=10) as sock,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(sock, server_hostname="localhost")


def _psc_sessions(connect, request, **token_options):
    provider = request.getfixturevalue("psc_provider")
    doctor = request.getfixturevalue("psc_doctor")
    return provider, doctor, provider.issue_access_token(as_jwt=True, **token_options)


def test_xoauth2_and_oauthbearer_with_a_psc_token(connect, request):
    provider, doctor, token = _psc_sessions(connect, request)
    client = connect.imaplib()
    xoauth2 = f"user={doctor.email}\x01auth=Bearer {token}\x01\x01".encode()
    assert client.authenticate("XOAUTH2", lambda _: xoauth2)[0] == "OK"
    client.logout()
    client = connect.imaplib()
    bearer = f"n,a={doctor.email},\x01auth=Bearer {token}\x01\x01".encode()
    assert client.authenticate("OAUTHBEARER", lambda _: bearer)[0] == "OK"
    client.logout()
    wire = connect.raw()
    forged = base64.b64encode(f"n,a={doctor.email},\x01auth=Bearer forged.x.y\x01\x01".encode()).decode()
    wire.send(f"a AUTHENTICATE OAUTHBEARER {forged}\r\n".encode())
    challenge = wire.line()
    assert challenge.startswith(b"+ ") and b"invalid_token" in base64.b64decode(challenge[2:].strip())
    wire.send(b"AQ==\r\n")
    assert wire.line().startswith(b"a NO [AUTHENTICATIONFAILED]")
    wire.close()


def test_the_session_ends_at_the_token_expiry_in_a_command_and_in_idle(connect, request):
    provider, doctor, token = _psc_sessions(connect, request, expires_in=3)
    other = provider.issue_access_token(as_jwt=True, expires_in=3)
    blob = base64.b64encode(f"user={doctor.email}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    busy = connect.raw()
    assert busy.command("a", f"AUTHENTICATE XOAUTH2 {blob}")[-1].startswith(b"a OK")
    idle = connect.raw()
    blob = base64.b64encode(f"user={doctor.email}\x01auth=Bearer {other}\x01\x01".encode()).decode()
    assert idle.command("a", f"AUTHENTICATE XOAUTH2 {blob}")[-1].startswith(b"a OK")
    idle.send(b"b IDLE\r\n")
    assert idle.line().startswith(b"+ ")
    time.sleep(3.2)
    lines = busy.command("c", "NOOP")
    assert lines[0].startswith(b"c NO [AUTHENTICATIONFAILED]")
    assert busy.line().startswith(b"* BYE [AUTHENTICATIONFAILED]") and busy.closed()
    started = time.monotonic()
    assert idle.line(timeout=6).startswith(
        b"* BYE [AUTHENTICATIONFAILED] Votre jeton Pro Sante Connect a expire"
    )
    assert time.monotonic() - started < 5 and idle.closed()


def test_patients_have_no_imap_access(connect, patient_paul):
    client = connect.imaplib()
    with pytest.raises(imaplib.IMAP4.error, match="patients"):
        client.login(patient_paul.email, app_password(patient_paul))
    assert AuditEvent.objects.get(action="imap.login_refused").details["reason"] == "patient"


def test_repeated_failures_lock_the_login_out_even_with_the_right_password(connect, dr_alice):
    secret = app_password(dr_alice)
    client = connect.imaplib()
    for _ in range(5):
        with pytest.raises(imaplib.IMAP4.error):
            client.login(dr_alice.email, "faux")
    with pytest.raises(imaplib.IMAP4.error, match="bloquee"):
        client.login(dr_alice.email, secret)
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


@pytest.mark.parametrize("imap_server", [{"sessions_per_user": 2}], indirect=True)
def test_sessions_per_person_are_limited(connect, dr_alice):
    secret = app_password(dr_alice)
    first, second, third = connect.imaplib(), connect.imaplib(), connect.imaplib()
    first.login(dr_alice.email, secret)
    second.login(dr_alice.email, secret)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[LIMIT\]"):
        third.login(dr_alice.email, secret)
    first.logout()
    time.sleep(0.3)
    assert third.login(dr_alice.email, secret)[0] == "OK"


@pytest.mark.parametrize("imap_server", [{"idle_timeout": 1.0}], indirect=True)
def test_an_inactive_session_is_closed(connect):
    wire = connect.raw()
    assert wire.line(timeout=5).startswith(b"* BYE") and wire.closed()


def test_bad_commands_get_bad_and_the_session_goes_on(connect):
    wire = connect.raw()
    assert wire.command("a1", "FETCH 1 (FLAGS")[-1].startswith(b"a1 BAD")
    assert wire.command("a2", "SELECT INBOX")[-1].startswith(b"a2 BAD")
    assert wire.command("a3", "FROBNICATE")[-1].startswith(b"a3 BAD")
    lines = wire.command("a4", 'ID ("name" "test")')
    assert lines[0].startswith(b'* ID ("name" "MSSante IMAP"') and lines[-1].startswith(b"a4 OK")
    wire.close()


def test_run_imap_prints_its_ports_and_stops_gracefully_on_sigterm(tmp_path, imap_pki, transactional_db):
    env = {**os.environ, "MSSANTE_TESTING": "1", "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_imap", "--port", "0", "--imaps-port", "0",
         "--cert", str(imap_pki.server.cert_path), "--key", str(imap_pki.server.key_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        line = process.stdout.readline().decode()
        assert "Serveur IMAP prêt" in line, line
        port = int(line.split(":")[1].split("(")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert sock.recv(1000).startswith(b"* OK [CAPABILITY IMAP4rev1")
            process.send_signal(signal.SIGTERM)
            assert b"* BYE" in sock.recv(1000)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_revoking_an_app_password_ends_its_sessions_within_5_s(connect, dr_alice):
    from apps.accounts.app_passwords import do_create_app_password, do_revoke_app_password

    row, secret = do_create_app_password(dr_alice, label="Logiciel du cabinet")
    idle = connect.raw()
    assert idle.command("a", f"LOGIN {dr_alice.email} {secret}")[-1].startswith(b"a OK")
    idle.send(b"b IDLE\r\n")
    assert idle.line().startswith(b"+ ")
    do_revoke_app_password(row, acting_user=dr_alice)
    started = time.monotonic()
    assert idle.line(timeout=6).startswith(b"* BYE [AUTHENTICATIONFAILED]")
    assert time.monotonic() - started < 5 and idle.closed()
    client = connect.imaplib()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(dr_alice.email, secret)
    assert AuditEvent.objects.filter(action="imap.login_refused", details__reason="credentials").exists()


def test_each_app_password_shows_its_last_use_address_and_software(connect, dr_alice, alice_client):
    from django.urls import reverse

    from apps.accounts.models import AppPassword

    secret = app_password(dr_alice, label="Logiciel du cabinet")
    wire = connect.raw()
    assert wire.command("a", 'ID ("name" "MedLogiciel" "version" "4.2")')[-1].startswith(b"a OK")
    assert wire.command("b", f"LOGIN {dr_alice.email} {secret}")[-1].startswith(b"b OK")
    wire.close()
    row = AppPassword.objects.get(label="Logiciel du cabinet")
    assert row.last_used_ip == "127.0.0.1" and row.last_client == "MedLogiciel 4.2"
    page = alice_client.get(reverse("accounts:app-passwords")).content.decode()
    assert "depuis 127.0.0.1 (MedLogiciel 4.2)" in page
