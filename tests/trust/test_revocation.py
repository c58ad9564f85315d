"""CRLs and the revocation policy (issue 18, ADR 0018), with a throwaway CA that issues, revokes and signs
CRLs served over a loopback HTTP server: fetching from the CA certificate's distribution point, signature
checked against the issuer, journal and alerts, past nextUpdate (soft fail, health, hourly alert),
CRL_HARD_FAIL, the API's forwarded client certificates, and the inventory."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent, Outcome
from apps.gateway.pki import CertificateAuthority, subject
from apps.trust.inventory import do_purge_tls_failures, do_warn_own_certificates, warning_threshold
from apps.trust.models import CertificateRevocationList, RevocationStatus, SeenCertificate, TlsFailure
from apps.trust.revocation import check_revocation
from apps.trust.services_crl import do_alert_stale_crls, do_refresh_crls
from mssante_web.health import check_revocation_lists
from tests.trust.crl_support import CrlServer, forwarded_pem

pytestmark = pytest.mark.django_db
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def crl_server():
    with CrlServer() as server:
        yield server


@pytest.fixture
def ca(tmp_path, crl_server, settings):
    """A CA whose certificate names its CRL on the loopback server, configured as the trust space's CA."""
    authority = CertificateAuthority(tmp_path / "ca", crl_url=crl_server.url("/ac-test.crl"))
    settings.GATEWAY_CA_FILES = [str(authority.cert_path)]
    settings.GATEWAY_OUTBOUND_CA_FILES = []
    settings.CRL_EXTRA_SOURCES = []
    return authority


def _publish(server: CrlServer, authority: CertificateAuthority, **kwargs) -> None:
    server.files["/ac-test.crl"] = authority.crl(**kwargs)


def _operator_cert(authority: CertificateAuthority, stem: str):
    return authority.issue(stem, subject(CN=f"{stem}.operateur.fr", O="OPERATEUR", C="FR"), server=True)


@pytest.fixture
def admin_olga_mail(admin_olga):
    admin_olga.outside_email = "olga.perso@example.org"
    admin_olga.save(update_fields=["outside_email"])
    return admin_olga


def test_the_job_fetches_the_crl_named_in_the_ca_certificate_keeps_it_and_journals_it(ca, crl_server):
    revoked, kept = _operator_cert(ca, "revoque"), _operator_cert(ca, "valide")
    ca.revoke(revoked)
    _publish(crl_server, ca)

    [outcome] = do_refresh_crls()

    assert outcome.result == "stored" and outcome.source == crl_server.url("/ac-test.crl")
    row = CertificateRevocationList.objects.get()
    assert row.revoked_count == 1 and "AC TEST IGC-SANTE" in row.issuer_dn
    event = AuditEvent.objects.get(action="trust.crl_refresh")
    assert event.details["result"] == "stored" and event.details["revoked"] == 1
    decision = check_revocation(revoked.certificate)
    assert not decision.allowed and decision.revoked and not decision.temporary
    assert decision.serial == format(revoked.certificate.serial_number, "X")
    assert check_revocation(kept.certificate).status == RevocationStatus.GOOD

    assert [o.result for o in do_refresh_crls()] == ["unchanged"]  # each refresh journaled
    assert AuditEvent.objects.filter(action="trust.crl_refresh").count() == 2


def test_a_newer_crl_replaces_the_held_one_and_an_older_one_does_not(ca, crl_server):
    late = _operator_cert(ca, "tardif")
    _publish(crl_server, ca, number=5)
    do_refresh_crls()
    ca.revoke(late)
    _publish(crl_server, ca, number=6)
    assert [o.result for o in do_refresh_crls()] == ["stored"]
    assert check_revocation(late.certificate).revoked
    _publish(crl_server, ca, number=4)  # a stale mirror
    assert [o.result for o in do_refresh_crls()] == ["older"]
    assert CertificateRevocationList.objects.get().number == 6


def test_a_crl_with_a_bad_signature_is_ignored_and_alerted(ca, crl_server, admin_olga_mail):
    _publish(crl_server, ca, number=1)
    do_refresh_crls()
    victim = _operator_cert(ca, "cible")
    ca.revoke(victim)
    forged_key = ec.generate_private_key(ec.SECP256R1())
    _publish(crl_server, ca, number=2, signing_key=forged_key)

    [outcome] = do_refresh_crls()

    assert outcome.result == "rejected" and "signature" in outcome.reason
    assert CertificateRevocationList.objects.get().number == 1  # the previous CRL is kept
    assert check_revocation(victim.certificate).allowed  # the forged list changed nothing
    failure = AuditEvent.objects.get(action="trust.crl_refresh", outcome=Outcome.FAILURE)
    assert failure.details["code"] == "signature"
    [alert] = mail.outbox
    assert alert.to == ["olga.perso@example.org"] and "signature" in alert.body


def test_a_crl_of_an_unknown_issuer_or_unreadable_is_rejected(ca, crl_server, tmp_path, settings):
    stranger = CertificateAuthority(tmp_path / "stranger", name="AC INCONNUE")
    (tmp_path / "stranger.crl").write_bytes(stranger.crl())
    (tmp_path / "garbage.crl").write_bytes(b"not a CRL")
    settings.CRL_EXTRA_SOURCES = [str(tmp_path / "stranger.crl"), str(tmp_path / "garbage.crl")]
    _publish(crl_server, ca)
    results = {o.source.rsplit("/", 1)[-1]: o.result for o in do_refresh_crls()}
    assert results == {"ac-test.crl": "stored", "stranger.crl": "rejected", "garbage.crl": "rejected"}


def test_past_next_update_the_revoked_stay_refused_the_others_pass_and_health_is_degraded(
    ca, crl_server, admin_olga_mail
):
    revoked, other = _operator_cert(ca, "revoque"), _operator_cert(ca, "autre")
    ca.revoke(revoked)
    _publish(crl_server, ca, this_update=NOW - dt.timedelta(days=10), next_update=NOW - dt.timedelta(days=3))
    assert check_revocation_lists()["ok"] is True  # nothing loaded yet: nothing stale
    do_refresh_crls()

    assert check_revocation(revoked.certificate).revoked
    decision = check_revocation(other.certificate)
    assert decision.allowed and decision.status == RevocationStatus.STALE
    assert check_revocation_lists() == {"ok": False, "stale_crls": 1}
    body = json.loads(Client().get("/healthz").content)
    assert body["status"] == "degraded" and body["revocation"]["ok"] is False

    assert do_alert_stale_crls() == 1  # the hourly job: journal and mail
    assert AuditEvent.objects.filter(action="trust.crl_stale", outcome=Outcome.FAILURE).count() == 1
    assert "périmées" in mail.outbox[-1].subject

    _publish(crl_server, ca, number=2)  # a fresh CRL ends it
    do_refresh_crls()
    assert check_revocation_lists()["ok"] is True and do_alert_stale_crls() == 0


def test_crl_hard_fail_refuses_every_certificate_of_a_ca_without_a_fresh_crl(ca, crl_server, settings):
    settings.CRL_HARD_FAIL = True
    other = _operator_cert(ca, "autre")
    no_crl = check_revocation(other.certificate)
    assert not no_crl.allowed and no_crl.temporary and no_crl.status == RevocationStatus.UNKNOWN
    _publish(crl_server, ca, this_update=NOW - dt.timedelta(days=10), next_update=NOW - dt.timedelta(days=3))
    do_refresh_crls()
    stale = check_revocation(other.certificate)
    assert not stale.allowed and stale.temporary and "Réessayez plus tard" in stale.message
    _publish(crl_server, ca, number=2)
    do_refresh_crls()
    assert check_revocation(other.certificate).allowed


def test_the_api_refuses_a_revoked_applicative_certificate_with_403_and_a_json_reason(
    ca, crl_server, settings, lab_bal
):
    mailbox, _token = lab_bal
    dn = "CN=dpi.labo-demo.fr,OU=Biologie,O=LABORATOIRE DE BIOLOGIE,C=FR"
    settings.API_CLIENT_CERT_HEADER = "X-SSL-Client-S-DN"
    settings.API_TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.API_CLIENT_CERTS = [f"{mailbox.credentials.get().prefix} {dn}"]
    issued = ca.issue(
        "dpi", subject(CN="dpi.labo-demo.fr", OU="Biologie", O="LABORATOIRE DE BIOLOGIE", C="FR")
    )
    client = Client(
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_SSL_CLIENT_S_DN=dn,
        HTTP_X_SSL_CLIENT_VERIFY="SUCCESS",
        HTTP_X_SSL_CLIENT_CERT=forwarded_pem(issued),
    )
    assert client.get(reverse("api:inbox")).status_code == 200
    ca.revoke(issued)
    _publish(crl_server, ca, number=2)
    do_refresh_crls()

    response = client.get(reverse("api:inbox"))

    assert response.status_code == 403
    body = json.loads(response.content)
    assert body["code"] == "certificate_revoked" and "révoqué" in body["detail"]
    assert body["serial"] == format(issued.certificate.serial_number, "X")
    assert TlsFailure.objects.get().direction == "api"
    without = Client(REMOTE_ADDR="10.1.2.3", HTTP_X_SSL_CLIENT_S_DN=dn, HTTP_X_SSL_CLIENT_VERIFY="SUCCESS")
    assert json.loads(without.get(reverse("api:inbox")).content)["code"] == "certificate_missing"


def test_warning_thresholds_are_30_14_and_3_days():
    days_left = (45, 31, 30, 15, 14, 4, 3, 0, -1)
    expected = [None, None, 30, 30, 14, 14, 3, 3, 0]  # 0: expired
    assert [warning_threshold(days) for days in days_left] == expected


def test_own_certificates_are_warned_once_at_30_14_and_3_days_before_expiry(
    tmp_path, settings, admin_olga_mail
):
    authority = CertificateAuthority(tmp_path / "ca")
    ours = authority.issue_server("ours", "mx.demo.mssante.fr", O="OPERATEUR DEMO", C="FR")
    settings.GATEWAY_CERT_FILE, settings.SUBMISSION_CERT_FILE, settings.SMIME_CERT_FILE = (
        str(ours.cert_path),
        "",
        "",
    )
    expiry = ours.certificate.not_valid_after_utc
    at = lambda days_left: expiry - dt.timedelta(days=days_left, hours=1)  # noqa: E731

    assert do_warn_own_certificates(at(40)) == []
    assert do_warn_own_certificates(at(29)) == [(str(ours.cert_path), 30)]
    assert do_warn_own_certificates(at(28)) == []  # once per threshold
    assert do_warn_own_certificates(at(13)) == [(str(ours.cert_path), 14)]
    assert do_warn_own_certificates(at(2)) == [(str(ours.cert_path), 3)]
    assert len(mail.outbox) == 3 and "expire dans 2 jour(s)" in mail.outbox[-1].subject
    assert AuditEvent.objects.filter(action="trust.own_certificate_expiring").count() == 3


def test_the_inventory_shows_own_and_peer_certificates_and_failures_to_operator_admins_only(
    ca, crl_server, settings, admin_client_olga, alice_client
):
    from apps.trust.inventory import note_certificate, record_tls_failure

    ours = ca.issue(
        "ours", subject(CN="mx.demo.mssante.fr", O="OPERATEUR DEMO", C="FR"), server=True, days=20
    )
    settings.GATEWAY_CERT_FILE = str(ours.cert_path)
    peer, gone = _operator_cert(ca, "voisin"), _operator_cert(ca, "ancien")
    ca.revoke(gone)
    _publish(crl_server, ca)
    do_refresh_crls()
    note_certificate(peer.certificate, path="inbound", remote="voisin.operateur.fr")
    note_certificate(gone.certificate, path="outbound", remote="ancien.operateur.fr")
    record_tls_failure(
        direction="outbound",
        remote="ancien.operateur.fr",
        reason_code="revoked",
        reason="il a été révoqué",
        certificate=gone.certificate,
    )
    url = reverse("confiance:certificats")
    assert alice_client.get(url).status_code == 404

    html = admin_client_olga.get(url).content.decode()

    assert "expire dans" in html and "mx.demo.mssante.fr" in html  # our certificate, 20 days left
    assert SeenCertificate.objects.count() == 2
    assert peer.dn in html and format(gone.certificate.serial_number, "X") in html
    assert "Révoqué" in html and "Non révoqué" in html
    assert "ancien.operateur.fr" in html and "1 échec" in html
    failures = admin_client_olga.get(reverse("confiance:echecs-tls", args=["ancien.operateur.fr"]))
    assert "il a été révoqué" in failures.content.decode()
    assert admin_client_olga.get(reverse("confiance:echecs-tls", args=["personne.fr"])).status_code == 404
    TlsFailure.objects.update(occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91))
    assert do_purge_tls_failures() == 1 and not TlsFailure.objects.exists()
