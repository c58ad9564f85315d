"""Quoted text and signatures of HTML bodies, cut out for folding (html_parts.py) and each part sanitised."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.messaging.models import MessageCopy
from apps.messaging.webmail.html_parts import split_html
from apps.messaging.webmail.sanitize import sanitize_html
from tests.messaging.helpers import send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

GMAIL_REPLY = (
    '<div dir="ltr">Merci, je le vois demain.<br clear="all"><br>'
    '<div class="gmail_signature" data-smartmail="gmail_signature">Dr Bob Leroy<br>Cardiologie</div></div>'
    '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
    "Le ven. 5 déc. 2026, Alice Martin a écrit :"
    '<br></div><blockquote class="gmail_quote">Pouvez-vous voir M. Bernard ?</blockquote></div>'
)
OUTLOOK_REPLY = (
    "<html><head><style>p{margin:0}</style></head><body><div>"
    "<p>Bien reçu, merci.</p>"
    '<hr><div id="divRplyFwdMsg"><b>De :</b> Alice Martin<br><b>Envoyé :</b> vendredi 5 décembre 2026<br>'
    "<b>Objet :</b> M. Bernard</div>"
    "<div><p>Pouvez-vous voir M. Bernard ?</p></div><p>Bien à vous</p></div></body></html>"
)


def kinds(parts):
    return [kind for kind, _ in parts]


def test_gmail_signature_and_quote_are_cut_out():
    parts = split_html(GMAIL_REPLY)
    assert kinds(parts) == ["text", "signature", "quote"]
    assert "Merci, je le vois demain." in parts[0][1]
    assert "Dr Bob Leroy" in parts[1][1] and "Merci" not in parts[1][1]
    assert "a écrit" in parts[2][1] and "M. Bernard" in parts[2][1]


def test_an_outlook_reply_header_starts_a_quote_that_runs_to_the_end():
    parts = split_html(OUTLOOK_REPLY)
    assert kinds(parts) == ["text", "quote"]
    assert "Bien reçu" in parts[0][1] and "De :" not in parts[0][1]
    assert "Pouvez-vous" in parts[1][1] and "Bien à vous" in parts[1][1]
    # Without Outlook's id: the « De : … Envoyé : … » block after an <hr> is recognised by its words.
    plain = OUTLOOK_REPLY.replace(' id="divRplyFwdMsg"', "")
    assert kinds(split_html(plain)) == ["text", "quote"]


def test_a_blockquote_with_its_attribution_then_an_answer_below_and_a_dash_dash_signature():
    source = (
        "<p>Bonjour,</p><p>Le 5 déc. 2026, Alice Martin a écrit :</p>"
        "<blockquote>Une place mardi ?</blockquote><p>Oui, mardi 10 h.</p>"
        "<div>-- <br>Dr Bob Leroy<br>Cardiologie</div>"
    )
    parts = split_html(source)
    assert kinds(parts) == ["text", "quote", "text", "signature"]
    assert "a écrit" in parts[1][1] and "Une place" in parts[1][1]
    assert "Oui, mardi" in parts[2][1]
    assert "Dr Bob Leroy" in parts[3][1]
    signed_then_quoted = (
        "<p>Le dosage est normal.</p><div>-- <br>Dr Alice Martin</div>"
        "<p>Le 5 déc. 2026, Paul a écrit :</p><blockquote>Mes résultats ?</blockquote>"
    )
    parts = split_html(signed_then_quoted)
    assert kinds(parts) == ["text", "signature", "quote"]
    assert "a écrit" not in parts[1][1] and "Paul a écrit" in parts[2][1]  # the attribution heads the quote
    loose = "Bonjour<br>à demain<br>-- <br>Dr Bob Leroy"  # the text convention written straight in HTML
    assert kinds(split_html(loose)) == ["text", "signature"]


def test_nothing_to_fold_stays_one_part_and_a_lone_quote_is_not_folded():
    assert kinds(split_html("<p>Juste du texte</p><p>-- pas une signature</p>")) == ["text"]
    assert kinds(split_html("<blockquote>Le message transféré</blockquote>")) == ["text"]
    assert split_html("") == []


def test_each_part_is_sanitised_and_the_marks_do_not_survive():
    hostile = GMAIL_REPLY.replace(
        "Pouvez-vous", '<script>alert(1)</script><img src="https://t.example/p.gif">'
    )
    safe = sanitize_html(hostile)
    assert [kind for kind, _ in safe.parts] == ["text", "signature", "quote"]
    assert "<script" not in safe.html and "alert" not in safe.html
    assert "gmail_quote" not in safe.html and "class=" not in safe.html
    assert safe.blocked_images == 1
    assert safe.html == "".join(markup for _, markup in safe.parts)


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_mailbox_keys")
def test_the_reading_pane_folds_the_quote_and_signature_of_an_html_body(
    bob_client, alice_bal, cardio_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Re", text="", html=GMAIL_REPLY)
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    body = bob_client.get(reverse("messaging:message-detail", args=[cardio_bal.pk, copy.pk])).content.decode()
    own = body.index("Merci, je le vois demain.")
    folded = body.index('<details class="wm-quote"><summary><span class="wm-fold-show">Afficher le texte')
    signature = body.index('<details class="wm-signature">')
    assert own < signature < folded < body.index("Pouvez-vous voir M. Bernard")
    assert "<details open" not in body  # folded until the reader asks
