"""A new BAL's structure is found by name, FINESS or SIRET; nothing typed is cut (issue 14, item 7)."""

from __future__ import annotations

import pytest

from tests.plugins.bals import make_structure

pytestmark = pytest.mark.django_db


def _form(admin_olga, value):  # noqa: ANN001, ANN202
    from apps.mailboxes.forms import StructureMixin

    form = StructureMixin({"structure": value})
    form.user = admin_olga
    form.setup_structure()
    form.is_valid()
    return form


def test_a_structure_is_found_by_its_name(admin_olga, chu):
    form = _form(admin_olga, chu.name)
    assert form.cleaned_data["structure"] == chu


def test_a_long_name_is_not_cut(admin_olga):
    field = _form(admin_olga, "x").fields["structure"]
    assert field.max_length >= 200


def test_several_matches_are_listed_to_choose_from(admin_olga, chu):
    make_structure("CHU DE DEMONSTRATION NORD", finess_body="75000077")
    form = _form(admin_olga, "CHU DE DEMO")
    assert "Plusieurs structures correspondent" in str(form.errors["structure"])
    assert chu.finess in str(form.errors["structure"])


def test_an_unknown_name_says_so(admin_olga, chu):
    assert "Aucune structure active" in str(_form(admin_olga, "Clinique imaginaire").errors["structure"])
