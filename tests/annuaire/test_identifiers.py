"""Identifier checks: the worked examples of docs/mssante.md §6 and property-based round trips."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from apps.annuaire import identifiers as ids
from apps.annuaire.identifiers import IdentifierError

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def bodies(length: int, first: str | None = None):
    size = length - (1 if first else 0)
    strategy = st.text(alphabet="0123456789", min_size=size, max_size=size)
    return strategy.map(lambda body: (first or "") + body)


# --- sourced examples ----------------------------------------------------------------------------------
def test_it_computes_the_ins_key_of_the_worked_examples():
    assert ids.compute_ins_key("2790351215189") == 89
    assert ids.check_ins("279035121518989") == "279035121518989"
    assert ids.compute_ins_key("269022A004001") == 88
    assert ids.check_ins("269022A00400188") == "269022A00400188"


def test_it_accepts_the_sourced_rpps_finess_siret_and_siren_examples():
    assert ids.compute_rpps_key("1000123456") == "5"
    assert ids.check_rpps("10001234565") == "10001234565"
    assert ids.check_national_id("810001234565") == "810001234565"
    assert ids.compute_finess_key("75071218") == "4"
    for finess in ("750712184", "690781810", "330781196", "920008059"):
        assert ids.check_finess(finess) == finess
    assert ids.check_siret("73282932000074") == "73282932000074"
    assert ids.check_siren("552081317") == "552081317"


def test_it_applies_the_la_poste_exception_to_siret():
    assert ids.check_siret("35600000049837") == "35600000049837"  # digit sum 45, not Luhn-valid
    assert not ids.luhn_is_valid("35600000049837")
    assert ids.check_siret("35600000000048") == "35600000000048"  # the siège is ordinary Luhn
    with pytest.raises(IdentifierError, match="La Poste"):
        ids.check_siret("35600000049838")


def test_it_names_the_field_and_the_reason_in_french():
    with pytest.raises(IdentifierError) as caught:
        ids.check_rpps("10001234560")
    assert str(caught.value) == "Le numéro RPPS est invalide : la clé de contrôle ne correspond pas."
    assert caught.value.field == "rpps"
    with pytest.raises(
        IdentifierError, match=r"^Le numéro SIRET est invalide : 14 chiffres sont attendus, 3 reçus\.$"
    ):
        ids.check_siret("123")
    with pytest.raises(
        IdentifierError, match=r"^L'identifiant national est invalide : .*8 \(RPPS\) ou 0 \(ADELI\)"
    ):
        ids.check_national_id("910001234565")
    with pytest.raises(IdentifierError, match="le numéro RPPS qu'il contient"):
        ids.check_national_id("810001234560")
    with pytest.raises(IdentifierError, match="Le matricule INS est invalide : la clé de contrôle"):
        ids.check_ins("279035121518988")


def test_it_checks_adeli_format_and_the_zero_prefix():
    assert ids.check_adeli("293786579") == "293786579"
    assert ids.check_adeli("2A1234567") == "2A1234567"
    assert ids.check_national_id("0293786579") == "0293786579"
    for bad in ("29378657", "X93786579", "2C1234567"):
        assert not ids.is_valid_adeli(bad)


def test_it_normalises_spaces_and_provides_django_validators():
    assert ids.check_siret("732 829 320 00074") == "73282932000074"
    assert ids.is_valid_finess("750712184") and not ids.is_valid_finess("750712185")
    ids.validate_rpps("10001234565")
    with pytest.raises(ValidationError) as caught:
        ids.validate_finess("750712185")
    assert caught.value.messages == ["Le numéro FINESS est invalide : la clé de contrôle ne correspond pas."]


# --- properties ---------------------------------------------------------------------------------------
@given(bodies(10, first="1"))
def test_it_round_trips_any_rpps_body(body):
    rpps = body + ids.compute_rpps_key(body)
    assert ids.check_rpps(rpps) == rpps
    assert ids.check_national_id("8" + rpps) == "8" + rpps


@given(bodies(13), st.integers(min_value=0, max_value=12), digits)
def test_it_detects_any_single_digit_change_in_a_siret(body, position, replacement):
    siret = body + ids.compute_siret_key(body)
    if siret.startswith(ids.LA_POSTE_SIREN):
        return
    assert ids.is_valid_siret(siret)
    corrupted = siret[:position] + replacement + siret[position + 1 :]
    assert ids.is_valid_siret(corrupted) == (corrupted == siret)


@given(bodies(8), st.integers(min_value=0, max_value=8), digits)
def test_it_detects_any_single_digit_change_in_a_siren(body, position, replacement):
    siren = body + ids.compute_siren_key(body)
    assert ids.check_siren(siren) == siren
    corrupted = siren[:position] + replacement + siren[position + 1 :]
    assert ids.is_valid_siren(corrupted) == (corrupted == siren)


@given(
    st.sampled_from([f"{n:02d}" for n in range(1, 96)] + ["2A", "2B"]), bodies(6), st.integers(2, 8), digits
)
def test_it_round_trips_finess_and_detects_corruption(department, rest, position, replacement):
    body = department + rest
    finess = body + ids.compute_finess_key(body)
    assert ids.check_finess(finess) == finess
    corrupted = finess[:position] + replacement + finess[position + 1 :]
    assert ids.is_valid_finess(corrupted) == (corrupted == finess)


@given(
    st.sampled_from("1278"),
    bodies(4),
    st.sampled_from([f"{n:02d}" for n in range(1, 96)] + ["2A", "2B"]),
    bodies(6),
)
def test_it_round_trips_ins_including_corsica(sex, year_month, department, rest):
    body = sex + year_month + department + rest
    key = ids.compute_ins_key(body)
    assert 1 <= key <= 97
    ins = f"{body}{key:02d}"
    assert ids.check_ins(ins) == ins
    wrong = f"{body}{(key % 97) + 1:02d}"
    assert not ids.is_valid_ins(wrong)


def test_it_weighs_corsica_2a_and_2b_as_19_and_18():
    body_2a, body_19 = "185072A123456", "1850719123456"
    assert ids.compute_ins_key(body_2a) == ids.compute_ins_key(body_19)
    assert ids.compute_ins_key("185072B123456") == ids.compute_ins_key("1850718123456")
