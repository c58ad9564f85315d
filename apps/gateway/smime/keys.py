"""The certificates S/MIME works with: our credentials (operator or BAL) and the CAs we trust."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko_certvalidator import ValidationContext


@dataclass(frozen=True)
class Credentials:
    """A certificate with its private key (the operator's or a BAL's) and the chain sent along."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, password: bytes | None = None) -> Credentials:
        """`cert_pem` holds the leaf first, then optionally its intermediates."""
        leaf, *chain = x509.load_pem_x509_certificates(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password)
        return cls(leaf, _usable_key(key), tuple(chain))

    @classmethod
    def from_pkcs12(cls, data: bytes, password: bytes | None) -> Credentials:
        """IGC-Santé software certificates are delivered as .p12 files."""
        key, leaf, extra = pkcs12.load_key_and_certificates(data, password)
        if key is None or leaf is None:
            raise ValueError("PKCS#12 file lacks the key or the certificate")
        return cls(leaf, _usable_key(key), tuple(extra))


def _usable_key(key: object) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported S/MIME key type {type(key).__name__}")
    return key


@dataclass(frozen=True)
class TrustStore:
    """CA certificates a signer must chain to (IGC-Santé in production), and CRLs to check revocation."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()  # DER

    @classmethod
    def from_pem(cls, *bundles: bytes, crls: Sequence[bytes] = ()) -> TrustStore:
        """Self-signed certificates of the bundles become roots, the others intermediates."""
        certs = [cert for bundle in bundles for cert in x509.load_pem_x509_certificates(bundle)]
        roots = tuple(c for c in certs if c.subject == c.issuer)
        others = tuple(c for c in certs if c.subject != c.issuer)
        return cls(roots, others, tuple(crls))

    def validation_context(self, moment: dt.datetime | None) -> ValidationContext:
        # soft-fail: with no CRL for a CA the path still validates; a listed serial always fails.
        return ValidationContext(
            trust_roots=[_asn1(c) for c in self.roots],
            other_certs=[_asn1(c) for c in self.intermediates],
            crls=list(self.crls),
            moment=moment,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
