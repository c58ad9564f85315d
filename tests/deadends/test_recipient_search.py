"""Recipient search: hosted BALs and addresses typed from their start come first (issue 14, item 5)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.annuaire.models import BalAddress
from apps.annuaire.search import SearchCriteria, autocomplete, search_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(imported_directory, cardio_bal):
    cache.clear()
    assert BalAddress.objects.filter(address=cardio_bal.address, source="local").exists()
    return cardio_bal


def test_part_of_a_hosted_bals_name_suggests_it_first(directory):
    others = BalAddress.objects.filter(search_text__contains="secretar", source="imported").count()
    assert others >= 10  # ten imported secretariats compete with it
    assert autocomplete("secretar")[0].address == directory.address


def test_part_of_an_address_suggests_it(directory):
    for typed in ("secretariat.car", "secretariat.cardio", "secretariat.cardio@demo"):
        found = [bal.address for bal in autocomplete(typed)]
        assert found[:1] == [directory.address], typed


def test_the_directory_page_ranks_the_hosted_bal_first(directory, alice_client):
    page = search_directory(SearchCriteria(q="secretariat"))
    assert page.results[0].address == directory.address
    html = alice_client.get(reverse("annuaire:autocomplete"), {"q": "secretar"}).json()
    assert html["results"][0]["address"] == directory.address
