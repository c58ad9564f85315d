"""apps.trust.dn: DNs compared attribute by attribute, as published and as seen in certificates."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from apps.trust.dn import DNParseError, dn_equal, dn_from_x509_name, normalise_dn, parse_dn

PUBLISHED = "CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR"


def test_it_normalises_a_published_dn():
    assert (
        normalise_dn(PUBLISHED)
        == "cn=medimail-asip.mipih.fr,ou=318310021300028,o=gip mipih,st=haute-garonne (31),c=fr"
    )


@pytest.mark.parametrize(
    "variant",
    [
        " cn = medimail-asip.mipih.fr , ou = 318310021300028 , o = GIP MIPIH "
        ", st = Haute-Garonne (31) , c = FR ",
        "CN=MEDIMAIL-ASIP.MIPIH.FR;OU=318310021300028;O=gip  mipih;S=Haute-Garonne (31);C=fr",
        'CN=medimail-asip.mipih.fr,OU=318310021300028,O="GIP MIPIH",ST=Haute-Garonne \\2831\\29,C=FR',
        "2.5.4.3=medimail-asip.mipih.fr,OID.2.5.4.11=318310021300028,O=GIP MIPIH,"
        "stateOrProvinceName=Haute-Garonne (31),countryName=FR",
        "C=FR,ST=Haute-Garonne (31),O=GIP MIPIH,OU=318310021300028,CN=medimail-asip.mipih.fr",
    ],
)
def test_it_compares_equal_whatever_the_spelling(variant):
    assert dn_equal(PUBLISHED, variant)


@pytest.mark.parametrize(
    "other",
    [
        PUBLISHED.replace("medimail-asip", "medimail-asip2"),
        PUBLISHED.replace("318310021300028", "318310021300029"),
        PUBLISHED.replace(",C=FR", ""),
        PUBLISHED + ",L=Toulouse",
        "CN=medimail-asip.mipih.fr+OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR",
    ],
)
def test_it_compares_unequal_when_an_attribute_differs(other):
    assert not dn_equal(PUBLISHED, other)


def test_it_reads_escapes_utf8_hex_pairs_and_multivalued_rdns():
    assert parse_dn("CN=Dupont\\, Jean+E=J@Exemple.FR,L=Bouches-du-Rh\\C3\\B4ne,O=\\#1") == (
        (("cn", "dupont, jean", False), ("emailaddress", "j@exemple.fr", False)),
        (("l", "bouches-du-rhône", False),),
        (("o", "#1", False),),
    )
    assert dn_equal("E=j@exemple.fr+CN=x", "cn=X+emailAddress=J@exemple.fr")
    assert dn_equal("CN=a,O=Rhône", "CN=a,O=Rh\\c3\\b4ne")


def test_it_keeps_ber_hex_values_apart_from_literal_hash_strings():
    assert not dn_equal("CN=#41", "CN=\\#41")
    assert normalise_dn("CN=\\#41") == "cn=\\#41"
    assert normalise_dn("CN=#4142") == "cn=#4142"


@pytest.mark.parametrize("bad", ["", "   ", "CN", "CN=a,", 'CN="open', "CN=a\\zz", "C N=x", "CN=#4"])
def test_it_rejects_unreadable_dns(bad):
    with pytest.raises(DNParseError):
        parse_dn(bad)
    assert not dn_equal(bad, PUBLISHED)


def _subject(**overrides: str) -> x509.Name:
    values = {
        "C": "FR",
        "ST": "Haute-Garonne (31)",
        "O": "GIP MIPIH",
        "OU": "318310021300028",
        "CN": "medimail-asip.mipih.fr",
    }
    values.update(overrides)
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "CN": NameOID.COMMON_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[key], value) for key, value in values.items()])


def test_it_reads_a_certificate_subject_in_the_published_order():
    assert dn_from_x509_name(_subject()) == normalise_dn(PUBLISHED)
    assert dn_equal(_subject().rfc4514_string(), PUBLISHED)
    assert dn_from_x509_name(_subject(CN="autre.mipih.fr")) != normalise_dn(PUBLISHED)


# --- property tests ------------------------------------------------------------------------------------
_KEYS = ["CN", "OU", "O", "ST", "L", "C"]
_SYNONYM = {
    "ST": ["ST", "S", "st", "2.5.4.8"],
    "CN": ["CN", "cn", "OID.2.5.4.3"],
    "C": ["C", "c", "countryName"],
}
_value = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"], exclude_characters="\x00"),
    min_size=1,
    max_size=20,
).filter(lambda v: v.strip() and not v.strip().startswith("#"))


def _escape(value: str) -> str:
    out = "".join("\\" + ch if ch in ',+"\\<>;=' else ch for ch in value.strip())
    return "\\" + out if out.startswith("#") else out


def _render(pairs, *, spaced: bool, upper: bool, synonyms: bool, quoted: bool) -> str:
    parts = []
    for key, value in pairs:
        name = _SYNONYM.get(key, [key])[-1] if synonyms else key
        name = name.upper() if upper and not name[0].isdigit() else name
        text = (
            '"' + value.strip().replace("\\", "\\\\").replace('"', '\\"') + '"' if quoted else _escape(value)
        )
        parts.append(f" {name} = {text} " if spaced else f"{name}={text}")
    return ",".join(parts)


@given(
    st.lists(st.tuples(st.sampled_from(_KEYS), _value), min_size=1, max_size=6),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_it_finds_a_dn_equal_to_itself_rendered_differently(pairs, spaced, upper, synonyms, quoted):
    plain = _render(pairs, spaced=False, upper=False, synonyms=False, quoted=False)
    other = _render(pairs, spaced=spaced, upper=upper, synonyms=synonyms, quoted=quoted)
    assert dn_equal(plain, other)
    assert normalise_dn(normalise_dn(plain)) == normalise_dn(plain)


@given(st.lists(st.tuples(st.sampled_from(_KEYS), _value), min_size=1, max_size=6), st.data())
def test_it_finds_dns_with_a_different_value_unequal(pairs, data):
    index = data.draw(st.integers(min_value=0, max_value=len(pairs) - 1))
    key, value = pairs[index]
    changed = value.strip() + "x9"
    other = list(pairs)
    other[index] = (key, changed)
    assert not dn_equal(
        _render(pairs, spaced=False, upper=False, synonyms=False, quoted=False),
        _render(other, spaced=True, upper=True, synonyms=True, quoted=False),
    )


_ldh = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@given(st.lists(_ldh, min_size=2, max_size=4))
def test_it_normalises_ascii_domains_like_the_idna_library(labels):
    """names.normalise_domain's fast path for ASCII names must agree with full IDNA 2008 + UTS #46."""
    import idna

    from apps.trust.names import InvalidDomainName, normalise_domain

    name = ".".join(labels)
    try:
        expected = idna.encode(name, uts46=True).decode().lower()
        reference_ok = not expected.rsplit(".", 1)[-1].isdigit()
    except idna.IDNAError:
        reference_ok = False
    try:
        got = normalise_domain(name).ascii
    except InvalidDomainName:
        assert not reference_ok, name
    else:
        assert reference_ok and got == expected, name
