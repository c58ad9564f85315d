"""TLS of the inbound gateway: server context (TLS 1.2+, client certificate verified) and the peer's identity.

The context asks for a client certificate (CERT_OPTIONAL) and verifies any certificate presented against the
configured CA bundles (GATEWAY_CA_FILES: the IGC-Santé chain in production): a certificate from another CA
fails the handshake itself. A client presenting none completes the handshake and is refused at MAIL FROM
with a clear SMTP reply rather than a TLS alert (CERT_REQUIRED would give the peer only an opaque alert).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from django.core.exceptions import ImproperlyConfigured

# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are all of that kind already).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS"


def server_context(
    cert_file: str | Path, key_file: str | Path, ca_files: Iterable[str | Path]
) -> ssl.SSLContext:
    """The listeners' context; raises ImproperlyConfigured naming the missing or unreadable file."""
    cas = [Path(path) for path in ca_files]
    if not cas:
        raise ImproperlyConfigured(
            "GATEWAY_CA_FILES is empty: give the PEM bundle(s) of the CAs whose client certificates are "
            "accepted (IGC-Santé in production)"
        )
    for what, path in [("GATEWAY_CERT_FILE", cert_file), ("GATEWAY_KEY_FILE", key_file)] + [
        ("GATEWAY_CA_FILES", ca) for ca in cas
    ]:
        if not path or not Path(path).is_file():
            raise ImproperlyConfigured(f"{what}: file {str(path)!r} not found")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(TLS12_CIPHERS)
    context.load_cert_chain(str(cert_file), str(key_file))
    for ca in cas:
        context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_OPTIONAL
    context.check_hostname = False
    return context


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> x509.Certificate | None:
    """The verified client certificate of a TLS session, or None (no TLS, or none presented)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return x509.load_der_x509_certificate(der)


def describe_session(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str:
    """`TLSv1.3 with cipher TLS_AES_256_GCM_SHA384` for the Received header and logs."""
    if ssl_object is None:
        return ""
    cipher = ssl_object.cipher()
    return f"{ssl_object.version()} with cipher {cipher[0] if cipher else '?'}"
