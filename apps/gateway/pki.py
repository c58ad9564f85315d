"""A small PKI for tests and `make run`: a CA standing in for IGC-Santé, server and client certificates,
revocation and signed CRLs.

Production uses IGC-Santé certificates issued to the operator (GATEWAY_CERT_FILE / GATEWAY_KEY_FILE) and the
IGC-Santé chain as CA bundle (GATEWAY_CA_FILES); nothing here is used then. Keys are ECDSA P-256: quick to
generate (tests build several per run) and accepted by every TLS 1.2+ stack. Subjects follow the liste
blanche shape `CN=<smtp FQDN>,OU=<3+SIRET | 1+FINESS>,O=<org>,ST=<Dept (nn)>,C=FR`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A certificate policy under the ANS arc (1.2.250.1.71) that the test CA puts in every leaf, standing in for
# the IGC-Santé "Élémentaire Organisations" policies (not a real IGC-Santé policy OID).
TEST_POLICY_OID = "1.2.250.1.71.99.1"

_NAME_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "C": NameOID.COUNTRY_NAME,
}


_SIGNING_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def subject(**attributes: str) -> x509.Name:
    """`subject(CN="mx.a.fr", OU="3...", O="Org", ST="Paris (75)", C="FR")`, most significant RDN last."""
    order = ["C", "ST", "L", "O", "OU", "CN"]  # ASN.1 order: printed by RFC 4514 as CN=...,C=FR
    return x509.Name(
        [x509.NameAttribute(_NAME_OIDS[key], attributes[key]) for key in order if attributes.get(key)]
    )


@dataclass(frozen=True)
class Issued:
    """A certificate with its key, and where they were written as PEM."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path

    @property
    def dn(self) -> str:
        return self.certificate.subject.rfc4514_string()


def _write(
    directory: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return Issued(certificate, key, cert_path, key_path)


class CertificateAuthority:
    """A self-signed root that issues server and client certificates into `directory`."""

    def __init__(
        self,
        directory: Path,
        name: str = "AC TEST IGC-SANTE ELEMENTAIRE ORGANISATIONS",
        *,
        crl_url: str = "",
    ) -> None:
        """`crl_url`: where this CA publishes its CRL, written as distribution point in the CA certificate
        and in every certificate it issues (the CRL job finds it there)."""
        self.directory = Path(directory)
        self.crl_url = crl_url
        self.revoked: dict[int, dt.datetime] = {}  # serial -> revocation date
        key = ec.generate_private_key(ec.SECP256R1())
        ca_subject = subject(CN=name, O="ASIP-SANTE TEST", C="FR")
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(ca_subject)
            .issuer_name(ca_subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if crl_url:
            certificate = certificate.add_extension(_distribution_points(crl_url), critical=False)
        self.ca = _write(self.directory, "ca", certificate.sign(key, hashes.SHA256()), key)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA written earlier into `directory` (ca.crt, ca.key), to issue more certificates."""
        authority = cls.__new__(cls)
        authority.directory = Path(directory)
        certificate = x509.load_pem_x509_certificate((authority.directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((authority.directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory}/ca.key is not the EC key this PKI makes")
        authority.ca = Issued(certificate, key, directory / "ca.crt", directory / "ca.key")
        authority.crl_url, authority.revoked = "", {}
        return authority

    @property
    def cert_path(self) -> Path:
        return self.ca.cert_path

    def issue(
        self,
        stem: str,
        name: x509.Name,
        *,
        server_names: tuple[str, ...] = (),
        client: bool = True,
        server: bool = False,
        email: bool = False,
        days: int = 825,
        not_before: dt.datetime | None = None,
        policy_oids: tuple[str, ...] = (TEST_POLICY_OID,),
    ) -> Issued:
        """Issue a leaf certificate; operator SMTP servers present the same certificate in both roles.
        `email=True` (and neither role): an S/MIME signing certificate (digitalSignature, emailProtection).
        `not_before` (default: yesterday) and `days` of validity from it: a past date gives an expired one."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        usages = (
            ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
            + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
            + ([ExtendedKeyUsageOID.EMAIL_PROTECTION] if email else [])
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(_SIGNING_KEY_USAGE if email else _LEAF_KEY_USAGE, critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()), critical=False
            )
        )
        if server_names:
            alt: list[x509.GeneralName] = []
            for entry in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
                except ValueError:
                    alt.append(x509.DNSName(entry))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        if policy_oids:
            policies = [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policy_oids]
            builder = builder.add_extension(x509.CertificatePolicies(policies), critical=False)
        if self.crl_url:
            builder = builder.add_extension(_distribution_points(self.crl_url), critical=False)
        certificate = builder.sign(self.ca.key, hashes.SHA256())
        return _write(self.directory, stem, certificate, key)

    def issue_signing(self, stem: str, name: x509.Name) -> Issued:
        """The operator's S/MIME signing certificate: e-mail protection only, no TLS role (ADR 0010)."""
        return self.issue(stem, name, client=False, email=True)

    def revoke(self, issued: Issued, when: dt.datetime | None = None) -> None:
        """List the certificate in the CRLs signed from now on."""
        self.revoked[issued.certificate.serial_number] = when or dt.datetime.now(dt.UTC)

    def crl(
        self,
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        number: int = 1,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> bytes:
        """A DER CRL of the revoked serials, valid 7 days from `this_update` (now) unless told otherwise;
        `signing_key` another key than the CA's gives a CRL whose signature does not verify."""
        start = this_update or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.certificate.subject)
            .last_update(start)
            .next_update(next_update or start + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()), critical=False
            )
        )
        for serial, when in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(signing_key or self.ca.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    def issue_server(self, stem: str, hostname: str, **attributes: str) -> Issued:
        attributes.setdefault("CN", hostname)
        return self.issue(
            stem, subject(**attributes), server_names=(hostname, "localhost", "127.0.0.1"), server=True
        )


_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=True,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _distribution_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


@dataclass(frozen=True)
class DevPki:
    """What `make run` and `manage.py run_smtp --dev-pki` use: CA, our server certificate, one peer."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    peer_cert_file: Path
    peer_key_file: Path
    smime_cert_file: Path  # signs outgoing mail (SMIME_CERT_FILE under `make run`)
    smime_key_file: Path


DEV_SERVER_SUBJECT = {
    "O": "OPERATEUR DE DEMONSTRATION",
    "OU": "318310021300028",
    "ST": "Paris (75)",
    "C": "FR",
}
DEV_SIGNER_SUBJECT = {"CN": "Signature OPERATEUR DE DEMONSTRATION", **DEV_SERVER_SUBJECT}
# The DN the demo liste blanche (demo/data/liste-blanche) publishes for adsea29.mssante.fr and others: with
# peer.crt/peer.key, `swaks --from x@adsea29.mssante.fr` is accepted by `make run`'s gateway (dev CA only).
DEV_PEER_DOMAIN = "adsea29.mssante.fr"
DEV_PEER_SUBJECT = {
    "CN": "medimail-asip.mipih.fr",
    "OU": "318310021300028",
    "O": "GIP MIPIH",
    "ST": "Haute-Garonne (31)",
    "C": "FR",
}


def ensure_dev_pki(directory: Path, hostname: str = "localhost") -> DevPki:
    """Create (once) a development CA, our server certificate, a peer operator's certificate and our S/MIME
    signing certificate (added to a PKI made before it existed)."""
    directory = Path(directory)
    names = {"ca": directory / "ca.crt", "server": directory / "server.crt", "peer": directory / "peer.crt"}
    if not all(path.exists() for path in names.values()):
        authority = CertificateAuthority(directory, name="AC DE DEVELOPPEMENT (PAS IGC-SANTE)")
        authority.issue_server("server", hostname, **DEV_SERVER_SUBJECT)
        authority.issue("peer", subject(**DEV_PEER_SUBJECT), client=True, server=True)
        authority.issue_signing("smime", subject(**DEV_SIGNER_SUBJECT))
    elif not (directory / "smime.crt").exists():
        CertificateAuthority.load(directory).issue_signing("smime", subject(**DEV_SIGNER_SUBJECT))
    return DevPki(
        ca_file=names["ca"],
        cert_file=names["server"],
        key_file=directory / "server.key",
        peer_cert_file=names["peer"],
        peer_key_file=directory / "peer.key",
        smime_cert_file=directory / "smime.crt",
        smime_key_file=directory / "smime.key",
    )
