"""S/MIME: our signatures and envelopes and OpenSSL's, checked against a test CA (IGC-Santé stand-in)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import json
import logging
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.gateway import smime
from apps.gateway.smime import Credentials, SignatureState, SmimeError, SmimeKind, TrustStore

from .mutations import mutate, mutations
from .smime_certs import Issued, issue, make_ca, revoke

TEXT = "Bonjour,\nvoici le compte rendu de l'échographie de Mme Durand.\nBien confraternellement.\n"


@pytest.fixture(autouse=True)
def _quiet_pyhanko(caplog):
    # pyhanko logs a full traceback for every refused path; the assertions below say what matters.
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    caplog.set_level(logging.CRITICAL, logger="pyhanko_certvalidator")


@pytest.fixture
def ca() -> Issued:
    return make_ca()


@pytest.fixture
def alice(ca) -> Issued:
    return issue(ca, "Dr Alice Martin", "alice.martin@op-a.mssante.fr")


@pytest.fixture
def bob(ca) -> Issued:
    return issue(ca, "Bob Secrétariat", "secretariat.cardio@op-b.mssante.fr")


@pytest.fixture
def trust(ca) -> TrustStore:
    return TrustStore((ca.cert,))


def creds(who: Issued) -> Credentials:
    return Credentials(who.cert, who.key)


def letter(sender: str = "Dr Alice Martin <alice.martin@op-a.mssante.fr>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "secretariat.cardio@op-b.mssante.fr"
    msg["Subject"] = "Compte rendu échographie"
    msg["Message-ID"] = "<cr-123@op-a.mssante.fr>"
    msg["X-MSS-NIL"] = "DEV935997"
    msg.set_content(TEXT)
    msg.add_attachment(
        b"%PDF-1.4\n" + bytes(range(256)) * 40, maintype="application", subtype="pdf", filename="cr.pdf"
    )
    return msg


def body_text(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    # 8bit parts keep the CRLF of the wire; compare texts with plain line ends.
    return parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def tamper_inside_signed_part(signed: bytes) -> bytes:
    """Flip one base64 character of the PDF attachment, inside the signed entity."""
    marker = b'Content-Disposition: attachment; filename="cr.pdf"'
    at = signed.index(marker)
    at = signed.index(b"\r\n\r\n", at) + 10
    flipped = b"A" if signed[at : at + 1] != b"A" else b"B"
    return signed[:at] + flipped + signed[at + 1 :]


# ------------------------------------------------------------------------------------------------ signing


def test_it_round_trips_a_signed_message_and_names_the_signer(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))

    check = smime.verify_message(signed, trust)

    assert smime.smime_kind(signed) == SmimeKind.SIGNED
    assert check.state == SignatureState.VALID and check.valid
    assert check.signer_name == "Dr Alice Martin"
    assert check.signer_email == "alice.martin@op-a.mssante.fr"
    assert "CN=Dr Alice Martin" in (check.signer_subject or "")
    assert check.sender_matches is True
    assert check.signing_time is not None
    assert check.label == "Signature valide de Dr Alice Martin <alice.martin@op-a.mssante.fr>"
    assert body_text(check.content or b"") == TEXT


def test_it_summarises_the_verdict_for_storage(alice, trust):
    check = smime.verify_message(smime.sign_message(letter(), creds(alice)), trust)

    summary = check.summary()

    assert json.loads(json.dumps(summary)) == summary
    assert summary["state"] == "valid" and summary["signer_email"] == "alice.martin@op-a.mssante.fr"
    assert summary["label"] == check.label and summary["sender_matches"] is True


def test_it_keeps_routing_headers_outside_the_signed_entity(alice):
    signed = smime.sign_message(letter(), creds(alice))

    parsed = email.message_from_bytes(signed, policy=policy.default)
    assert parsed.get_content_type() == "multipart/signed"
    assert parsed.get_param("micalg") == "sha-256"
    assert parsed["X-MSS-NIL"] == "DEV935997"
    assert parsed["Message-ID"] == "<cr-123@op-a.mssante.fr>"
    assert parsed["Subject"] == "Compte rendu échographie"
    assert signed.count(b"MIME-Version") >= 1 and signed.isascii()


def test_it_signs_8bit_text_as_7bit_so_relays_cannot_break_it(alice, trust):
    raw = letter().as_bytes(policy=policy.SMTP)
    assert not raw.isascii()  # the composer's natural output: UTF-8 in 8bit

    signed = smime.sign_message(raw, creds(alice))

    assert signed.isascii()
    assert smime.verify_message(signed, trust).valid


def test_it_detects_a_tampered_attachment(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))

    check = smime.verify_message(tamper_inside_signed_part(signed), trust)

    assert check.state == SignatureState.INVALID
    assert check.label == "Signature invalide : le message a pu être modifié"


def test_it_detects_a_tampered_header_inside_the_signed_entity(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))

    tampered = signed.replace(b'filename="cr.pdf"', b'filename="cs.pdf"', 1)

    assert tampered != signed
    assert smime.verify_message(tampered, trust).state == SignatureState.INVALID


def test_it_treats_an_unreadable_signature_as_invalid(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))
    head, sep, tail = signed.rpartition(b'filename="smime.p7s"\r\n\r\n')

    check = smime.verify_message(head + sep + b"bm90IGEgQ01TIHNpZ25hdHVyZQ==\r\n" + tail[-60:], trust)

    assert check.state == SignatureState.INVALID
    assert "unreadable" in check.reason


def test_it_verifies_a_message_whose_line_ends_were_turned_into_lf(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))

    assert smime.verify_message(signed.replace(b"\r\n", b"\n"), trust).valid


def test_it_reports_a_signer_from_another_ca_as_untrusted(alice):
    signed = smime.sign_message(letter(), creds(alice))

    check = smime.verify_message(signed, TrustStore((make_ca("AC ETRANGERE").cert,)))

    assert check.state == SignatureState.UNTRUSTED
    assert check.label.startswith("Signature non reconnue : le certificat de Dr Alice Martin")


def test_it_reports_an_expired_signer_certificate(ca, trust):
    old = issue(ca, "Dr Ancien", "ancien@op-a.mssante.fr", days_valid=(-60, -2))

    check = smime.verify_message(smime.sign_message(letter("ancien@op-a.mssante.fr"), creds(old)), trust)

    assert (check.state, check.reason) == (SignatureState.UNTRUSTED, "expired")
    assert "n'était pas valide à cette date" in check.label


def test_it_reports_a_revoked_signer_certificate(ca, alice):
    signed = smime.sign_message(letter(), creds(alice))

    check = smime.verify_message(signed, TrustStore((ca.cert,), crls=(revoke(ca, alice.cert),)))

    assert (check.state, check.reason) == (SignatureState.UNTRUSTED, "revoked")
    assert "révoqué" in check.label


def test_it_accepts_a_crl_that_does_not_list_the_signer(ca, alice, bob):
    signed = smime.sign_message(letter(), creds(alice))

    assert smime.verify_message(signed, TrustStore((ca.cert,), crls=(revoke(ca, bob.cert),))).valid


def test_it_refuses_a_certificate_not_meant_for_email(ca, trust):
    server = issue(ca, "smtp.op-a.mssante.fr", email_protection=False)

    check = smime.verify_message(smime.sign_message(letter(), creds(server)), trust)

    assert (check.state, check.reason) == (SignatureState.UNTRUSTED, "usage")


def test_it_flags_a_valid_signer_who_is_not_the_displayed_sender(bob, trust):
    signed = smime.sign_message(letter(), creds(bob))

    check = smime.verify_message(signed, trust)

    assert check.valid and check.sender_matches is False
    assert check.label.endswith("qui n'est pas l'expéditeur affiché")


def test_it_accepts_an_operator_certificate_without_address(ca, trust):
    operator = issue(ca, "Opérateur A - signature", None)

    check = smime.verify_message(smime.sign_message(letter(), creds(operator)), trust)

    assert check.valid and check.sender_matches is None
    assert check.label == "Signature valide de Opérateur A - signature"


def test_it_builds_the_path_through_an_intermediate_sent_with_the_signature(ca):
    intermediate = issue(ca, "AC TEST IGC-SANTE ORGANISATIONS", is_ca=True)
    leaf = issue(intermediate, "Dr Claire Roux", "claire.roux@op-a.mssante.fr")

    signed = smime.sign_message(
        letter("claire.roux@op-a.mssante.fr"), Credentials(leaf.cert, leaf.key, (intermediate.cert,))
    )

    assert smime.verify_message(signed, TrustStore((ca.cert,))).valid


def test_it_signs_with_an_elliptic_curve_key(ca, trust):
    ec_signer = issue(ca, "Dr EC", "ec@op-a.mssante.fr", key_kind="ec")

    assert smime.verify_message(
        smime.sign_message(letter("ec@op-a.mssante.fr"), creds(ec_signer)), trust
    ).valid


def test_it_loads_credentials_from_pkcs12_and_pem(alice, ca, trust):
    p12 = pkcs12.serialize_key_and_certificates(
        b"alice", alice.key, alice.cert, [ca.cert], serialization.BestAvailableEncryption(b"s3cret")
    )

    from_p12 = Credentials.from_pkcs12(p12, b"s3cret")
    from_pem = Credentials.from_pem(alice.cert_pem() + ca.cert_pem(), alice.key_pem())

    assert from_p12.certificate == alice.cert and from_p12.chain == (ca.cert,)
    assert from_pem.chain == (ca.cert,)
    assert smime.verify_message(smime.sign_message(letter(), from_p12), trust).valid


def test_it_splits_pem_bundles_into_roots_and_intermediates(ca):
    intermediate = issue(ca, "AC INTERMEDIAIRE", is_ca=True)

    store = TrustStore.from_bundles(ca.cert_pem() + intermediate.cert_pem())

    assert store.roots == (ca.cert,) and store.intermediates == (intermediate.cert,)


@pytest.mark.parametrize("encoding", [serialization.Encoding.DER, serialization.Encoding.PEM])
def test_it_reads_the_chain_as_a_p7b_bundle_like_igc_sante_publishes_it(ca, alice, tmp_path, encoding):
    intermediate = issue(ca, "AC INTERMEDIAIRE", is_ca=True)
    (tmp_path / "chaine.p7b").write_bytes(
        pkcs7.serialize_certificates([ca.cert, intermediate.cert], encoding)
    )
    (tmp_path / "ac.crl").write_bytes(revoke(ca, alice.cert))

    store = TrustStore.from_files(tmp_path / "chaine.p7b", crl_paths=[tmp_path / "ac.crl"])

    assert store.roots == (ca.cert,) and store.intermediates == (intermediate.cert,)
    assert smime.verify_message(smime.sign_message(letter(), creds(alice)), store).reason == "revoked"


def test_it_reads_a_single_der_certificate_and_a_pem_crl(ca, alice):
    crl = x509.load_der_x509_crl(revoke(ca, alice.cert)).public_bytes(serialization.Encoding.PEM)

    store = TrustStore.from_bundles(ca.cert.public_bytes(serialization.Encoding.DER), crls=[crl])

    assert store.roots == (ca.cert,) and store.crls[0].startswith(b"0")


def test_it_hands_over_the_signer_certificate_to_encrypt_replies(alice, bob, trust):
    check = smime.verify_message(smime.sign_message(letter(), creds(alice)), trust)

    reply = smime.encrypt_message(letter(), [check.signer_certificate])  # type: ignore[list-item]

    assert body_text(smime.decrypt_message(reply, creds(alice))) == TEXT


def test_it_reports_an_unsigned_message(trust):
    check = smime.verify_message(letter().as_bytes(), trust)

    assert check.state == SignatureState.UNSIGNED and check.label == "Message non signé"
    assert smime.smime_kind(letter().as_bytes()) == SmimeKind.NONE


def test_it_verifies_from_inside_a_running_event_loop(alice, trust):
    signed = smime.sign_message(letter(), creds(alice))

    async def from_a_handler():
        return smime.verify_message(signed, trust)

    # A thread of its own: in a test process where Playwright's sync API is open, the main thread already
    # counts as running a loop and asyncio.run() would refuse before our code is even reached.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, from_a_handler()).result().valid


# --------------------------------------------------------------------------------------------- encryption


def test_it_encrypts_for_each_recipient_and_keeps_routing_headers_in_clear(alice, bob):
    encrypted = smime.encrypt_message(letter(), [alice.cert, bob.cert])

    assert smime.smime_kind(encrypted) == SmimeKind.ENCRYPTED
    outer = email.message_from_bytes(encrypted, policy=policy.default)
    assert outer["Subject"] == "Compte rendu échographie"
    assert outer["X-MSS-NIL"] == "DEV935997"
    assert b"%PDF" not in encrypted and b"voici" not in encrypted
    for who in (alice, bob):
        assert body_text(smime.decrypt_message(encrypted, creds(who))) == TEXT


def test_it_refuses_to_decrypt_for_a_key_the_message_was_not_encrypted_to(ca, alice):
    encrypted = smime.encrypt_message(letter(), [alice.cert])
    intruder = issue(ca, "Eve", "eve@op-c.mssante.fr")

    with pytest.raises(SmimeError) as refused:
        smime.decrypt_message(encrypted, creds(intruder))

    assert refused.value.label.startswith("Ce message chiffré ne peut pas être ouvert")


def test_it_tries_each_key_in_turn(ca, alice):
    encrypted = smime.encrypt_message(letter(), [alice.cert])
    operator = issue(ca, "Opérateur A", None)

    assert body_text(smime.decrypt_message(encrypted, [creds(operator), creds(alice)])) == TEXT


def test_it_refuses_to_decrypt_a_clear_message(alice):
    with pytest.raises(SmimeError):
        smime.decrypt_message(letter().as_bytes(), creds(alice))


def test_it_opens_a_signed_then_encrypted_message(alice, bob, trust):
    wrapped = smime.encrypt_message(smime.sign_message(letter(), creds(alice)), [bob.cert])

    opened = smime.open_message(wrapped, trust, [creds(bob)])

    assert opened.encrypted
    assert opened.signature.valid and opened.signature.signer_email == "alice.martin@op-a.mssante.fr"
    assert body_text(opened.message) == TEXT
    assert email.message_from_bytes(opened.message)["Message-ID"] == "<cr-123@op-a.mssante.fr>"


def test_it_opens_a_clear_message_unchanged(trust):
    raw = letter().as_bytes()

    opened = smime.open_message(raw, trust)

    assert opened.message is raw and not opened.encrypted
    assert opened.signature.state == SignatureState.UNSIGNED


# ------------------------------------------------------------------------------------ interop with OpenSSL


@pytest.fixture
def pki_files(tmp_path: Path, ca, alice) -> Path:
    ca.write(tmp_path, "ca")
    alice.write(tmp_path, "alice")
    (tmp_path / "entity.txt").write_bytes(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Compte rendu transmis par un autre op\xc3\xa9rateur.\r\n"
    )
    return tmp_path


def openssl(*args: str | Path) -> bytes:
    done = subprocess.run(["openssl", "smime", *map(str, args)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def openssl_sign(files: Path, *options: str) -> bytes:
    """`openssl smime -sign` of the other operator's entity with Alice's key."""
    return openssl(
        "-sign",
        *options,
        "-in",
        files / "entity.txt",
        "-signer",
        files / "alice.crt",
        "-inkey",
        files / "alice.key",
    )


def test_it_is_verified_by_openssl(pki_files, alice):
    (pki_files / "ours.eml").write_bytes(smime.sign_message(letter(), creds(alice)))

    done = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-in",
            pki_files / "ours.eml",
            "-CAfile",
            pki_files / "ca.crt",
            "-purpose",
            "smimesign",
            "-out",
            pki_files / "out.eml",
        ],
        capture_output=True,
        check=False,
    )

    assert done.returncode == 0 and b"Verification successful" in done.stderr
    assert b"Content-Type: multipart/mixed" in (pki_files / "out.eml").read_bytes()


def test_it_verifies_a_detached_signature_made_by_openssl(pki_files, trust):
    signed = openssl_sign(pki_files, "-md", "sha256")
    raw = b"From: alice.martin@op-a.mssante.fr\nSubject: CR\n" + signed

    check = smime.verify_message(raw, trust)

    assert check.valid and check.sender_matches is True
    assert "autre opérateur" in body_text(check.content or b"")


def test_it_verifies_an_opaque_signature_made_by_openssl(pki_files, trust):
    signed = openssl_sign(pki_files, "-nodetach")

    check = smime.verify_message(signed, trust)

    assert smime.smime_kind(signed) == SmimeKind.SIGNED_OPAQUE
    assert check.valid and "autre opérateur" in body_text(check.content or b"")


def test_it_detects_tampering_of_an_openssl_signed_message(pki_files, trust):
    signed = openssl_sign(pki_files)

    check = smime.verify_message(signed.replace(b"transmis", b"modifi\xc3\xa9"), trust)

    assert check.state == SignatureState.INVALID


def test_it_is_decrypted_by_openssl(pki_files, alice):
    (pki_files / "enc.eml").write_bytes(smime.encrypt_message(letter(), [alice.cert]))

    clear = openssl(
        "-decrypt",
        "-in",
        pki_files / "enc.eml",
        "-recip",
        pki_files / "alice.crt",
        "-inkey",
        pki_files / "alice.key",
    )

    assert b"Content-Type: multipart/mixed" in clear and b"cr.pdf" in clear


def test_it_decrypts_an_aes256_message_encrypted_by_openssl(pki_files, alice):
    encrypted = openssl("-encrypt", "-aes256", "-in", pki_files / "entity.txt", pki_files / "alice.crt")

    clear = smime.decrypt_message(b"Subject: CR\r\n" + encrypted, creds(alice))

    assert body_text(clear) == "Compte rendu transmis par un autre opérateur.\n"


def test_it_opens_a_message_openssl_signed_then_encrypted(pki_files, alice, trust):
    (pki_files / "signed.eml").write_bytes(openssl_sign(pki_files))
    wrapped = openssl("-encrypt", "-aes256", "-in", pki_files / "signed.eml", pki_files / "alice.crt")

    opened = smime.open_message(wrapped, trust, creds(alice))

    assert opened.encrypted and opened.signature.valid
    assert "autre opérateur" in body_text(opened.message)


def test_it_signs_then_encrypts_in_a_way_openssl_opens(pki_files, alice):
    wrapped = smime.encrypt_message(smime.sign_message(letter(), creds(alice)), [alice.cert])
    (pki_files / "wrapped.eml").write_bytes(wrapped)
    (pki_files / "signed.eml").write_bytes(
        openssl(
            "-decrypt",
            "-in",
            pki_files / "wrapped.eml",
            "-recip",
            pki_files / "alice.crt",
            "-inkey",
            pki_files / "alice.key",
        )
    )

    done = subprocess.run(
        ["openssl", "smime", "-verify", "-in", pki_files / "signed.eml", "-CAfile", pki_files / "ca.crt"],
        capture_output=True,
        check=False,
    )

    assert done.returncode == 0 and b"Verification successful" in done.stderr


def test_it_refuses_openssl_default_triple_des_with_a_clear_reason(pki_files, alice):
    encrypted = openssl("-encrypt", "-in", pki_files / "entity.txt", pki_files / "alice.crt")

    with pytest.raises(SmimeError) as refused:
        smime.decrypt_message(encrypted, creds(alice))

    assert "algorithme ancien" in refused.value.label


# ------------------------------------------------------------------------------------------ hostile input


@settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(layer=st.sampled_from(["signed", "encrypted"]), edits=mutations)
def test_it_gives_a_verdict_on_any_damaged_message_and_never_crashes(alice, trust, layer, edits):
    signed = smime.sign_message(letter(), creds(alice))
    raw = mutate(signed if layer == "signed" else smime.encrypt_message(signed, [alice.cert]), edits)

    try:
        opened = smime.open_message(raw, trust, creds(alice))
    except SmimeError as refused:  # an envelope damaged beyond decryption
        assert refused.label
    else:
        assert opened.signature.state in set(SignatureState)
