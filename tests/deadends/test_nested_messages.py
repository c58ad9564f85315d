"""Forwarded messages, digests and several text parts are read inline (issue 14, item 3).

Fixtures in tests/fixtures/eml, one per structure that used to hide what the sender wrote.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, DeliveryState, MessageCopy

pytestmark = pytest.mark.django_db
EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"


def _receive(name: str, mailbox) -> MessageCopy:  # noqa: ANN001
    message = do_receive_message(
        raw=io.BytesIO((EML / name).read_bytes()),
        envelope_sender="lea.dupont@hopital-b.mssante.fr",
        recipients=[mailbox.address],
    )
    assert message is not None
    for pk in Delivery.objects.filter(message=message, state=DeliveryState.QUEUED).values_list(
        "pk", flat=True
    ):
        do_deliver(pk)
    return MessageCopy.objects.get(mailbox=mailbox, message=message)


def _page(client, copy: MessageCopy) -> str:  # noqa: ANN001
    response = client.get(f"/messagerie/{copy.mailbox_id}/message/{copy.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_forwarded_message_as_the_whole_body_is_shown_with_its_headers_and_attachment(
    alice_client, alice_bal
):
    copy = _receive("forwarded_whole_body.eml", alice_bal)
    html = _page(alice_client, copy)
    assert "le Holter de M. Bernard montre des extrasystoles isolées" in html
    assert "Message transféré" in html
    assert "De : Dr Marc Petit &lt;marc.petit@clinique-c.mssante.fr&gt;" in html
    assert "Objet : Holter M. Bernard" in html
    assert "holter-bernard.pdf" in html
    assert [a.content_type for a in copy.message.attachments.all()] == ["application/pdf"]


def test_a_digest_shows_each_message_and_names_their_attachments(alice_client, alice_bal):
    copy = _receive("digest_two_messages.eml", alice_bal)
    html = _page(alice_client, copy)
    assert "Mme Durand peut reprendre son traitement habituel." in html
    assert "M. Leroy sort demain matin." in html
    assert "Objet : Compte rendu Mme Durand" in html and "Objet : Compte rendu M. Leroy" in html
    assert "cr-leroy.pdf" in html
    assert "piece-jointe-1" not in html


def test_every_text_part_is_shown(alice_client, alice_bal):
    copy = _receive("mixed_three_text_parts.eml", alice_bal)
    html = _page(alice_client, copy)
    assert "Premier paragraphe en HTML : traitement inchangé." in html
    assert "Second texte : rendez-vous le 3 décembre." in html
    assert "Troisième texte : ordonnance renouvelée." in html


def test_a_forward_of_a_forward_attached_is_nested(alice_client, alice_bal):
    copy = _receive("forwarded_twice_as_attachment.eml", alice_bal)
    html = _page(alice_client, copy)
    for text in (
        "Pour information, voir plus bas.",
        "Je te transfère l",
        "Avis favorable pour l",
        "Dr Marc Petit",
    ):
        assert text in html
    body = html[html.index('class="wm-body"') :]  # the list beside it may show the snippet too
    assert body.count("Message transféré") == 2


def test_an_ordinary_message_keeps_its_html_body(alice_client, alice_bal):
    raw = (
        b"From: lea.dupont@hopital-b.mssante.fr\r\nTo: alice.martin@demo.mssante.fr\r\nSubject: simple\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        b"--a\r\nContent-Type: text/plain\r\n\r\nbonjour\r\n"
        b"--a\r\nContent-Type: text/html\r\n\r\n<p>bonjour <b>gras</b></p>\r\n--a--\r\n"
    )
    message = do_receive_message(
        raw=io.BytesIO(raw), envelope_sender="x@y.fr", recipients=[alice_bal.address]
    )
    for pk in Delivery.objects.filter(message=message).values_list("pk", flat=True):
        do_deliver(pk)
    copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    assert "<b>gras</b>" in _page(alice_client, copy)
