"""apps.trust.policies: the one gate for addresses and peer certificates."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.test import override_settings

from apps.trust import policies
from apps.trust.models import TrustedDomain
from apps.trust.policies import (
    AddressNotAllowed,
    access_correspondent,
    can_exchange_with,
    check_address_allowed,
    peer_certificate_allowed,
)
from apps.trust.services import do_import_liste_blanche
from apps.trust.snapshot import SnapshotState
from tests.trust.conftest import DN_TEMPLATE, SAMPLE_XML, numbered_domains

pytestmark = pytest.mark.django_db

APHP_DN = "CN=smtp-1.sante.santnet.com,OU=341459958900028,O=DEDALUS HEALTHCARE FRANCE,ST=Gironde (33),C=FR"


@pytest.fixture
def sample_list():
    refresh = do_import_liste_blanche(str(SAMPLE_XML))
    assert refresh.status == "applied"


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_it_allows_our_own_domains(direction):
    decision = check_address_allowed("alice.martin@demo.mssante.fr", direction=direction)
    assert decision.allowed and decision.reason == "operator"
    assert can_exchange_with("secretariat@CHU-DEMO.mssante.fr", direction=direction)


def test_it_allows_the_patient_domain():
    decision = check_address_allowed("279035121518989@patient.mssante.fr", direction="outbound")
    assert decision.allowed and decision.reason == "patient"


def test_it_allows_a_liste_blanche_domain(sample_list):
    decision = access_correspondent("dr.dupont@aphp.mssante.fr", direction="outbound")
    assert decision.reason == "liste_blanche" and decision.domain == "aphp.mssante.fr"
    assert can_exchange_with("x@aphp.mssante.fr", direction="inbound")


@pytest.mark.parametrize(
    "address", ["dr.dupont@APHP.MSSante.FR", " dr.dupont@aphp.mssante.fr. ", "a@UC-CMP.mssante.fr"]
)
def test_it_ignores_case_and_trailing_dots(sample_list, address):
    assert can_exchange_with(address, direction="outbound")


def test_it_refuses_an_unlisted_domain_with_a_precise_french_message(sample_list):
    decision = check_address_allowed("jean@exemple.fr", direction="outbound")
    assert not decision.allowed and decision.reason == "not_trusted"
    assert decision.message == (
        "Le domaine « exemple.fr » n'appartient pas à l'espace de confiance MSSanté : "
        "aucun message ne peut lui être envoyé."
    )
    with pytest.raises(AddressNotAllowed) as excinfo:
        access_correspondent("jean@exemple.fr", direction="inbound")
    assert str(excinfo.value).endswith("aucun message ne peut en être reçu.")
    assert excinfo.value.decision.domain == "exemple.fr"


def test_it_refuses_lookalikes_of_listed_domains(sample_list):
    for address in [
        "a@aphp.mssante.fr.evil.com",
        "a@evil-aphp.mssante.fr",
        "a@mssante.fr",
        "a@sub.aphp.mssante.fr",
    ]:
        assert not can_exchange_with(address, direction="outbound"), address


@pytest.mark.parametrize(
    "address",
    [
        "",
        "jean",
        "@aphp.mssante.fr",
        "jean@",
        "a b@aphp.mssante.fr",
        "Jean <jean@aphp.mssante.fr>",
        "jean@aphp..fr",
        '"j"@aphp.mssante.fr',
    ],
)
def test_it_refuses_invalid_addresses(sample_list, address):
    decision = check_address_allowed(address, direction="outbound")
    assert not decision.allowed and decision.reason == "invalid_address"
    assert "n'est pas une adresse de messagerie valide" in decision.message


def test_it_refuses_a_deactivated_domain(write_list):
    do_import_liste_blanche(write_list(numbered_domains(10))[0])
    assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")
    do_import_liste_blanche(write_list(numbered_domains(9))[0])
    assert TrustedDomain.objects.filter(name="etab9.mssante.fr", is_active=False).exists()
    assert not can_exchange_with("a@etab9.mssante.fr", direction="outbound")


def test_it_matches_unicode_and_punycode_spellings(write_list):
    do_import_liste_blanche(write_list({"hôpital-exemple.mssante.fr": [DN_TEMPLATE.format(cn="x")]})[0])
    assert can_exchange_with("a@hôpital-exemple.mssante.fr", direction="outbound")
    assert can_exchange_with("a@HÔPITAL-exemple.mssante.fr", direction="outbound")
    assert can_exchange_with("a@xn--hpital-exemple-0ob.mssante.fr", direction="inbound")
    assert not can_exchange_with("a@hopital-exemple.mssante.fr", direction="outbound")


def test_it_refuses_everything_but_our_domains_when_no_list_was_imported():
    assert not can_exchange_with("x@aphp.mssante.fr", direction="outbound")
    assert can_exchange_with("x@demo.mssante.fr", direction="outbound")


def test_it_rejects_an_unknown_direction():
    with pytest.raises(ValueError):
        check_address_allowed("x@demo.mssante.fr", direction="sideways")  # type: ignore[arg-type]


def _subject(cn: str, ou: str = "341459958900028") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Gironde (33)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DEDALUS HEALTHCARE FRANCE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def test_it_accepts_a_peer_certificate_listed_for_the_domain(sample_list):
    assert peer_certificate_allowed("aphp.mssante.fr", APHP_DN)
    assert peer_certificate_allowed(
        "APHP.mssante.fr",
        " cn=SMTP-2.sante.santnet.com, ou=341459958900028, o=Dedalus Healthcare France, s=Gironde (33), c=FR",
    )
    assert peer_certificate_allowed("aphp.mssante.fr", _subject("smtp-1.sante.santnet.com"))
    assert peer_certificate_allowed("aphp.mssante.fr", _subject("smtp-1.sante.santnet.com").rfc4514_string())


def test_it_refuses_a_peer_certificate_not_listed_for_the_domain(sample_list):
    assert not peer_certificate_allowed("aphp.mssante.fr", _subject("smtp-3.sante.santnet.com"))
    assert not peer_certificate_allowed("aphp.mssante.fr", _subject("smtp-1.sante.santnet.com", ou="1"))
    # a DN listed for another domain does not speak for this one
    assert not peer_certificate_allowed(
        "aphp.mssante.fr",
        "CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR",
    )
    assert not peer_certificate_allowed("exemple.fr", APHP_DN)
    assert not peer_certificate_allowed("aphp.mssante.fr", "not a dn")
    assert not peer_certificate_allowed("not a domain", APHP_DN)


@override_settings(LISTE_BLANCHE_PROCESS_CACHE=True)
def test_it_caches_per_process_and_reloads_when_a_refresh_bumps_the_version(
    write_list, django_assert_num_queries, django_capture_on_commit_callbacks
):
    policies.bump_liste_blanche_version()
    with django_capture_on_commit_callbacks(execute=True):
        do_import_liste_blanche(write_list(numbered_domains(10))[0])
    assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")  # loads the snapshot
    with django_assert_num_queries(0):
        assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")
        assert peer_certificate_allowed("etab9.mssante.fr", DN_TEMPLATE.format(cn="mss0.exemple.fr"))

    # A write that does not bump the version is not seen: proof the cache really serves the answer.
    TrustedDomain.objects.filter(name="etab9.mssante.fr").update(is_active=False)
    assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")

    # An applied refresh bumps the version on commit and every process reloads.
    with django_capture_on_commit_callbacks(execute=True):
        do_import_liste_blanche(write_list(numbered_domains(9), generated="2025-03-14T00:00:00Z")[0])
    assert not can_exchange_with("a@etab9.mssante.fr", direction="outbound")
    assert can_exchange_with("a@etab8.mssante.fr", direction="outbound")


@override_settings(LISTE_BLANCHE_PROCESS_CACHE=True)
def test_it_reloads_when_another_process_publishes_a_new_version(
    write_list, django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.cache import cache

    monkeypatch.setattr(policies._dns_snapshot, "check_seconds", 0.0)  # look at the key on every check
    policies.bump_liste_blanche_version()  # start from an empty snapshot whatever ran before
    with django_capture_on_commit_callbacks(execute=True):
        do_import_liste_blanche(write_list(numbered_domains(10))[0])
    assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")
    TrustedDomain.objects.filter(name="etab9.mssante.fr").update(is_active=False)
    cache.set(policies.VERSION_KEY, "set-by-another-process", None)  # what a bump in another process does
    assert not can_exchange_with("a@etab9.mssante.fr", direction="outbound")
    cache.delete(policies.VERSION_KEY)  # evicted key: reload once, never serve a stale snapshot
    TrustedDomain.objects.filter(name="etab9.mssante.fr").update(is_active=True)
    assert can_exchange_with("a@etab9.mssante.fr", direction="outbound")


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_it_follows_the_configured_operator_and_patient_domains(settings, direction):
    settings.OPERATOR_DOMAINS = ["hôpital-démo.fr"]
    settings.PATIENT_DOMAIN = "patient.exemple.fr"
    assert can_exchange_with("a@xn--hpital-dmo-i7a8j.fr", direction=direction)
    assert can_exchange_with("279035121518989@PATIENT.exemple.fr", direction=direction)
    assert not can_exchange_with("a@demo.mssante.fr", direction=direction)
    assert not can_exchange_with("279035121518989@patient.mssante.fr", direction=direction)


@override_settings(LISTE_BLANCHE_PROCESS_CACHE=True)
def test_it_asks_the_cache_for_the_version_at_most_once_a_second(
    write_list, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    policies.bump_liste_blanche_version()
    with django_capture_on_commit_callbacks(execute=True):
        do_import_liste_blanche(write_list(numbered_domains(3))[0])
    assert can_exchange_with("a@etab1.mssante.fr", direction="outbound")
    TrustedDomain.objects.filter(name="etab1.mssante.fr").update(is_active=False)
    cache.set(policies.VERSION_KEY, "set-by-another-process", None)
    assert can_exchange_with("a@etab1.mssante.fr", direction="outbound")  # within the second: snapshot
    state = policies._dns_snapshot.state
    assert state is not None
    policies._dns_snapshot.state = SnapshotState(state.version, state.checked_at - 2, state.value)
    assert not can_exchange_with("a@etab1.mssante.fr", direction="outbound")  # a second later: reloaded


def test_it_answers_with_one_query_without_the_process_cache(sample_list, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert can_exchange_with("x@aphp.mssante.fr", direction="outbound")
    with django_assert_num_queries(0):
        assert can_exchange_with("x@demo.mssante.fr", direction="outbound")
