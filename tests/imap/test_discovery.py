"""Discovery: a Thunderbird-style autoconfig fetch yields IMAP settings that work against the live server,
Outlook's autodiscover names IMAP, `manage.py dns_records` prints the MX and RFC 6186 SRV records, and
/healthz checks the IMAP listener."""

from __future__ import annotations

import imaplib
import io
import json
from xml.etree import ElementTree

from django.core.management import call_command

from tests.imap.conftest import app_password


def test_autoconfig_yields_working_imap_settings(client, settings, connect, dr_alice, alice_bal):
    settings.IMAP_PUBLIC_HOST, settings.IMAP_PUBLIC_PORT = "localhost", connect.server.imaps_port
    response = client.get(f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={alice_bal.address}")
    incoming = ElementTree.fromstring(response.content).find("emailProvider/incomingServer")  # noqa: S314
    assert (
        incoming is not None and incoming.get("type") == "imap" and incoming.findtext("socketType") == "SSL"
    )
    username = incoming.findtext("username").replace("%EMAILADDRESS%", dr_alice.email)
    session = imaplib.IMAP4_SSL(
        incoming.findtext("hostname"),
        int(incoming.findtext("port")),
        ssl_context=connect.pki.client_context(),
    )
    assert session.login(username, app_password(dr_alice))[0] == "OK"
    assert session.select("INBOX")[0] == "OK"
    session.logout()
    body = (
        b'<?xml version="1.0"?><Autodiscover><Request><EMailAddress>alice.martin@demo.mssante.fr'
        b"</EMailAddress></Request></Autodiscover>"
    )
    answer = client.post("/autodiscover/autodiscover.xml", body, content_type="text/xml").content
    assert b"<Type>IMAP</Type>" in answer and f"<Port>{connect.server.imaps_port}</Port>".encode() in answer


def test_dns_records(settings):
    settings.OPERATOR_DOMAINS = ["demo.mssante.fr"]
    settings.IMAP_PUBLIC_PORT, settings.SUBMISSION_PUBLIC_PORT = 993, 587
    out = io.StringIO()
    call_command("dns_records", mx="mx.demo.mssante.fr", imap_host="imap.demo.mssante.fr",
                 submission_host="smtp.demo.mssante.fr", stdout=out)  # fmt: skip
    lines = out.getvalue().splitlines()
    assert "demo.mssante.fr.\t3600\tIN\tMX\t10 mx.demo.mssante.fr." in lines
    assert "_imaps._tcp.demo.mssante.fr.\t3600\tIN\tSRV\t0 1 993 imap.demo.mssante.fr." in lines
    assert "_imap._tcp.demo.mssante.fr.\t3600\tIN\tSRV\t10 1 143 imap.demo.mssante.fr." in lines
    assert "_submission._tcp.demo.mssante.fr.\t3600\tIN\tSRV\t0 1 587 smtp.demo.mssante.fr." in lines


def test_healthz_checks_the_imap_listener(client, settings, connect):
    settings.HEALTHZ_IMAP = f"127.0.0.1:{connect.server.port}"
    body = json.loads(client.get("/healthz").content)
    assert body["imap"]["ok"] is True
    settings.HEALTHZ_IMAP = "127.0.0.1:1"
    response = client.get("/healthz")
    assert response.status_code == 503 and json.loads(response.content)["imap"] == {
        "ok": False,
        "error": "ConnectionRefusedError",
    }
