"""Mail client auto-configuration documents: the submission server, nothing secret, hostile XML refused."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.django_db


def test_thunderbird_gets_the_submission_server(client, settings):
    settings.SUBMISSION_PUBLIC_HOST, settings.SUBMISSION_PUBLIC_PORT = "smtp.demo.mssante.fr", 587
    response = client.get(
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice.martin@demo.mssante.fr"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    tree = ElementTree.fromstring(response.content)  # noqa: S314 (our own response)
    server = tree.find("emailProvider/outgoingServer")
    assert server is not None
    assert server.findtext("hostname") == "smtp.demo.mssante.fr" and server.findtext("port") == "587"
    assert server.findtext("socketType") == "STARTTLS"


def test_outlook_autodiscover_answers_for_our_addresses(client, settings):
    settings.SUBMISSION_PUBLIC_HOST = "smtp.demo.mssante.fr"
    body = (
        b'<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
        b'outlook/requestschema/2006"><Request><EMailAddress>alice.martin@demo.mssante.fr</EMailAddress>'
        b"</Request></Autodiscover>"
    )
    response = client.post("/autodiscover/autodiscover.xml", body, content_type="text/xml")
    assert response.status_code == 200
    assert b"<Server>smtp.demo.mssante.fr</Server>" in response.content
    assert b"<LoginName>alice.martin@demo.mssante.fr</LoginName>" in response.content


def test_autodiscover_refuses_entities(client):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Autodiscover>&a;</Autodiscover>'
    response = client.post("/autodiscover/autodiscover.xml", bomb, content_type="text/xml")
    assert response.status_code == 400
