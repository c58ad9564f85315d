"""Each rule of the trust space has one place (docs/design.md §1): imported from there, it decides, and no
other module of apps/ re-implements it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.http import Http404

from apps.mailboxes.policies import access_mailbox
from apps.messaging.policies import FIN_VALUE, closes_exchange, is_fin_subject
from apps.messaging.recipient_policies import RecipientContext
from apps.patients.policies import check_patient_rules, is_officine
from apps.trust.policies import check_address_allowed
from tests.patients.conftest import paul_profile  # noqa: F401, F811 (fixture used by name)

APPS = Path(__file__).resolve().parents[1] / "apps"


def _code_of(path: Path) -> str:
    """The module without comments and docstrings (a rule named in prose is not a second copy of it)."""
    text = re.sub(r'"""(?:.|\n)*?"""', "", path.read_text(encoding="utf-8"))
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_fin_is_decided_in_messaging_policies_only():
    assert closes_exchange("Re: Résultats [FIN]") and closes_exchange("Résultats", {"x-mss-mes": " fin "})
    assert not closes_exchange("Re: Résultats [fin]", {"X-MSS-MES": "MESSAGE"})
    assert closes_exchange("Résultats", [("Subject", "x"), ("X-MSS-MES", "FIN")])
    assert is_fin_subject("[FIN]") and not is_fin_subject(None) and FIN_VALUE == "FIN"
    copies = [
        str(path.relative_to(APPS))
        for path in APPS.rglob("*.py")
        if path.name != "policies.py" or path.parent.name != "messaging"
        if re.search(r"""["']FIN["']|\\\[FIN\\\]|["']\[FIN\]["']""", _code_of(path))
    ]
    assert copies == []


def test_the_liste_blanche_decides_in_trust_policies(db):
    assert not check_address_allowed("someone@not-in-the-list.example", direction="outbound").allowed
    assert check_address_allowed("alice.martin@demo.mssante.fr", direction="outbound").allowed


def test_mss_c_initiation_and_the_pharmacy_exception_decide_in_patients_policies(
    db,
    alice_bal,
    pharmacy_bal,
    paul_profile,  # noqa: F811
):
    # A patient may not start an exchange with a professional's BAL...
    refusal = check_patient_rules(
        RecipientContext(
            sender_address=paul_profile.mailbox.address,
            recipient_address=alice_bal.address,
            recipient_mailbox=alice_bal,
        )
    )
    assert refusal is not None and refusal.code == "patient_cannot_initiate"
    # ...and the one exception is an organisational BAL marked as a pharmacy (officine).
    assert is_officine(pharmacy_bal) and not is_officine(alice_bal)


def test_bal_access_decides_in_mailboxes_policies(db, alice_bal, dr_alice, charlie):
    assert access_mailbox(dr_alice, alice_bal.pk) == alice_bal
    with pytest.raises(Http404):
        access_mailbox(charlie, alice_bal.pk)
