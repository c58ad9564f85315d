"""apps.trust.demo.seed: `make run` trusts the sample's domains."""

from __future__ import annotations

from io import StringIO

import pytest

from apps.trust import demo
from apps.trust.models import TrustedDomain
from apps.trust.policies import can_exchange_with

pytestmark = pytest.mark.django_db


def test_it_seeds_the_sample_with_its_checksum_and_is_idempotent():
    out = StringIO()
    demo.seed(out)
    demo.seed(out)
    text = out.getvalue()
    assert text.count("Liste blanche applied") == 2
    assert "checksum verified" in text
    assert "0 domain(s) added" in text  # second run: nothing new
    assert TrustedDomain.objects.filter(is_active=True).count() == 516
    assert can_exchange_with("secretariat@aphp.mssante.fr", direction="outbound")
    assert not can_exchange_with("quelquun@gmail.com", direction="outbound")
