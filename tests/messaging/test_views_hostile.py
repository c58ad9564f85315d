"""A hostile message (HTML body, subject, sender display name, attachment name) is shown as inert text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from apps.mailboxes.models import Mailbox
from apps.messaging.models import MessageCopy
from tests.messaging.helpers import pdf_part, send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'
HTML_BODY = (
    '<p onmouseover="alert(2)">Bonjour</p><script>alert(3)</script><a href="javascript:alert(4)">clic</a>'
    '<img src="https://tracker.example/p.gif"><iframe src="https://evil.example"></iframe>'
)


@pytest.fixture
def hostile(alice_bal, cardio_bal, dr_alice) -> MessageCopy:
    # The display name comes from the sending BAL; a hostile one stands for a hostile remote sender.
    Mailbox.objects.filter(pk=alice_bal.pk).update(display_name=f"Dr {IMG} Martin")
    alice_bal.refresh_from_db()
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject=f"Objet {SCRIPT}",
        text="Version texte",
        html=HTML_BODY,
        attachments=[pdf_part(f"{IMG}.pdf")],
    )
    return MessageCopy.objects.get(mailbox=cardio_bal, message=message)


class _LiveMarkup(HTMLParser):
    """Collects what a browser would run: inline scripts, event handlers, javascript: URLs, frames to
    elsewhere. Escaped text (`&lt;img onerror=…`) is data for the parser, so it is never reported."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.found.append("inline script")
        if tag in ("iframe", "object", "embed") and not (values.get("src") or "").startswith("/messagerie/"):
            self.found.append(f"<{tag}> to elsewhere")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            if (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}=javascript:")


def _active(body: str) -> list[str]:
    parser = _LiveMarkup()
    parser.feed(body)
    return parser.found


def test_it_shows_a_hostile_message_inert(bob_client, hostile):
    response = bob_client.get(reverse("messaging:message-detail", args=[hostile.mailbox_id, hostile.pk]))
    body = response.content.decode()
    assert len(_active(HTML_BODY)) >= 3  # the detector does see live markup
    assert _active(body) == []
    assert "Objet &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "Dr &lt;img src=x onerror=&quot;alert(1)&quot;&gt; Martin" in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.pdf" in body
    assert "tracker.example" not in body and "Afficher les images distantes" in body
    assert "Bonjour" in body


def test_it_lists_a_hostile_message_inert(bob_client, hostile, cardio_bal):
    body = bob_client.get(reverse("messaging:inbox", args=[cardio_bal.pk])).content.decode()
    assert _active(body) == []
    assert "Objet &lt;script&gt;" in body


def test_it_shows_remote_images_only_when_asked_with_a_matching_policy(bob_client, hostile):
    url = reverse("messaging:message-detail", args=[hostile.mailbox_id, hostile.pk])
    blocked = bob_client.get(url)
    assert "https:" not in blocked.headers["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    shown = bob_client.get(url + "?images=1")
    assert 'src="https://tracker.example/p.gif"' in shown.content.decode()
    assert "img-src 'self' data: https:" in shown.headers["Content-Security-Policy"]
    assert "script-src 'self'" in shown.headers["Content-Security-Policy"]


def test_it_downloads_a_hostile_attachment_name_safely(bob_client, hostile):
    url = reverse("messaging:attachment-download", args=[hostile.mailbox_id, hostile.pk, 0])
    disposition = bob_client.get(url).headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\n" not in disposition
