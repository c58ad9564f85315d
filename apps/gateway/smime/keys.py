"""The certificates S/MIME works with: our credentials (operator or BAL) and the CAs we trust."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
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
    def from_bundles(cls, *bundles: bytes, crls: Sequence[bytes] = ()) -> TrustStore:
        """Self-signed certificates of the bundles become roots, the others intermediates. Bundles and CRLs
        may be PEM or DER; bundles may be PKCS#7 (.p7b, the form IGC-Santé publishes its chain in)."""
        certs = [cert for bundle in bundles for cert in load_certificates(bundle)]
        roots = tuple(c for c in certs if c.subject == c.issuer)
        others = tuple(c for c in certs if c.subject != c.issuer)
        return cls(roots, others, tuple(_der_crl(crl) for crl in crls))

    @classmethod
    def from_files(cls, *paths: str | Path, crl_paths: Sequence[str | Path] = ()) -> TrustStore:
        """The store described by settings: CA bundle files and CRL files (read once, at start-up)."""
        return cls.from_bundles(
            *(Path(p).read_bytes() for p in paths), crls=[Path(p).read_bytes() for p in crl_paths]
        )

    def validation_context(self, moment: dt.datetime | None) -> ValidationContext:
        # soft-fail: a CA without loaded CRL still validates; a serial listed in a loaded CRL always fails
        # (pyhanko checks CRLs only for certificates that declare a distribution point, as IGC-Santé's do).
        return ValidationContext(
            trust_roots=[_asn1(c) for c in self.roots],
            other_certs=[_asn1(c) for c in self.intermediates],
            crls=list(self.crls),
            moment=moment,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (certificates or PKCS#7), a DER certificate or a DER PKCS#7 bundle."""
    if b"-----BEGIN PKCS7-----" in data:
        return pkcs7.load_pem_pkcs7_certificates(data)
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return pkcs7.load_der_pkcs7_certificates(data)


def _der_crl(data: bytes) -> bytes:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
    x509.load_der_x509_crl(data)  # refuse a broken file at start-up rather than at the first message
    return data


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
