"""Interoperability with an MTA no one here wrote (issue 20, point 5): Debian's Postfix as the neighbouring
operator, mutual TLS both ways with certificates of the test CA (`smtpd_tls_req_ccert = yes` on its side).

Run alone with `make interop`; part of `make test`. Skipped, with one line, where postfix is not installed
and cannot be (scripts/ensure_postfix.sh installs it with apt as root)."""

from __future__ import annotations

import shutil
import subprocess
import time
from email.message import EmailMessage

import pytest

from apps.messaging.models import Delivery, DeliveryState, FolderRole, MessageCopy
from apps.messaging.webmail.services import do_mark_read
from tests.interop.conftest import POSTFIX_DOMAIN, UNLISTED_RECIPIENT
from tests.messaging.helpers import body_of, send

pytestmark = [
    pytest.mark.interop,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("postfix"),
]
ALICE = "alice.martin@demo.mssante.fr"


def _wait(predicate, timeout: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def _letter(sender: str, to: str, subject: str, *, receipt: bool = False, mid: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = f"Dr Postfix <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = mid or f"<{subject.replace(' ', '-')}-{time.monotonic_ns()}@{POSTFIX_DOMAIN}>"
    if receipt:
        message["Disposition-Notification-To"] = sender
    message.set_content("Bonjour,\nvoici le compte rendu.\n")
    return bytes(message)


def _inbox_copy(mailbox, subject_sender: str):  # noqa: ANN001, ANN202
    return (
        MessageCopy.objects.filter(mailbox=mailbox, message__sender_address=subject_sender)
        .select_related("message", "mailbox")
        .first()
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl absent")
def test_platform_to_postfix_carries_the_mss_headers_and_a_signature_openssl_accepts(
    platform, postfix, interop_pki, alice_bal, dr_alice, tmp_path
):
    message = send(alice_bal, dr_alice, [f"dr.postfix@{POSTFIX_DOMAIN}"], subject="Avis", text="Bonjour")
    assert Delivery.objects.get(message=message).state == DeliveryState.DELIVERED
    [raw] = postfix.wait_for_mail("dr.postfix") and postfix.raw_mailbox("dr.postfix")
    headers = raw.split(b"\n\n", 1)[0]
    assert b"X-MSS-NIL: TEST-INTEROP-NIL" in headers and b"multipart/signed" in headers
    (tmp_path / "received.eml").write_bytes(raw)
    command = ["openssl", "smime", "-verify", "-in", str(tmp_path / "received.eml")]
    verify = subprocess.run(
        [*command, "-CAfile", str(interop_pki.ca.cert_path)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0 and "Verification successful" in verify.stderr, verify.stderr
    # Postfix required our client certificate (smtpd_tls_req_ccert = yes) and verified its chain.
    assert "Trusted TLS connection established from localhost" in postfix.log(), postfix.log()[-2000:]


def test_postfix_to_platform_is_delivered_over_mutual_tls(platform, postfix, alice_bal):
    sender = f"dr.postfix@{POSTFIX_DOMAIN}"
    postfix.submit(sender, [ALICE], _letter(sender, ALICE, "Compte rendu"))
    copy = _wait(lambda: _inbox_copy(alice_bal, sender))
    assert copy is not None, postfix.log()[-3000:]
    assert copy.folder.role == FolderRole.INBOX and copy.message.return_path == sender
    assert "Verified TLS connection established to" in postfix.log()  # Postfix checked our certificate


def test_a_550_at_rcpt_from_postfix_is_bounced_in_french(platform, postfix, alice_bal, dr_alice):
    message = send(alice_bal, dr_alice, [f"inconnu@{POSTFIX_DOMAIN}"], subject="Bilan", text="x")
    delivery = Delivery.objects.get(message=message)
    assert delivery.state == DeliveryState.FAILED and "550" in delivery.remote_detail
    assert "réponse du serveur distant : 550" in delivery.error_text
    bounce = MessageCopy.objects.exclude(message=message).get(
        mailbox=alice_bal, folder__role=FolderRole.INBOX
    )
    assert f"inconnu@{POSTFIX_DOMAIN}" in body_of(bounce)


def test_postfix_bounces_mail_to_an_unknown_platform_address(platform, postfix):
    sender = f"dr.rebond@{POSTFIX_DOMAIN}"
    postfix.submit(sender, ["personne@demo.mssante.fr"], _letter(sender, "personne@demo.mssante.fr", "Perdu"))
    [bounce] = postfix.wait_for_mail("dr.rebond")
    text = bounce.as_string()
    assert bounce.get_content_type() == "multipart/report" and "550 5.1.1" in text, text[-2000:]


def test_a_certificate_the_liste_blanche_does_not_list_is_refused(platform, postfix):
    sender = f"dr.refus@{POSTFIX_DOMAIN}"
    postfix.submit(sender, [UNLISTED_RECIPIENT], _letter(sender, UNLISTED_RECIPIENT, "Sans droit"))
    [bounce] = postfix.wait_for_mail("dr.refus")
    text = bounce.as_string()
    assert "550 5.7.1" in text and "liste blanche" in text, text[-2000:]
    assert not MessageCopy.objects.filter(message__sender_address=sender).exists()


def test_the_postfix_side_sender_gets_the_read_receipt(platform, postfix, alice_bal, dr_alice):
    sender = f"dr.lecteur@{POSTFIX_DOMAIN}"
    mid = f"<lecture-{time.monotonic_ns()}@{POSTFIX_DOMAIN}>"
    postfix.submit(sender, [ALICE], _letter(sender, ALICE, "Merci de confirmer", receipt=True, mid=mid))
    copy = _wait(lambda: _inbox_copy(alice_bal, sender))
    assert copy is not None and copy.message.wants_read_receipt, postfix.log()[-3000:]
    do_mark_read(copy, user=dr_alice)
    [mdn] = postfix.wait_for_mail("dr.lecteur")
    assert mdn.get_content_type() == "multipart/report"
    assert mdn.get_param("report-type") == "disposition-notification"
    report = next(p for p in mdn.walk() if p.get_content_type() == "message/disposition-notification")
    fields = report.as_string()
    assert mid in fields and "displayed" in fields and ALICE in fields
    assert b"X-MSS-NIL: TEST-INTEROP-NIL" in postfix.raw_mailbox("dr.lecteur")[0]
