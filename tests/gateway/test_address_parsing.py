"""MAIL FROM / RCPT TO addresses: the gateway's parser gives what aiosmtpd's own gives (it only drops the
class aiosmtpd defined at every call and adds a fast path for plain `<local@domain>`)."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP

from apps.gateway.server import GatewaySMTP

ARGUMENTS = [
    "<dr.voisin@hopital-voisin.fr>",
    "<dr.voisin@hopital-voisin.fr> SIZE=20480",
    "<dr.voisin@hopital-voisin.fr>  BODY=8BITMIME SIZE=3",
    "<dr.voisin@hopital-voisin.fr>SIZE=1",
    "<Dr.Voisin+tag@Hopital-Voisin.FR> ",
    "<a@b> (commentaire) SIZE=1",
    '<"dr voisin"@hopital-voisin.fr>',
    "<dr.voisin@[192.0.2.1]>",
    "<@relais.fr:dr.voisin@hopital-voisin.fr>",
    "dr.voisin@hopital-voisin.fr",
    "<dr..voisin@hopital-voisin.fr>",
    "<>",
    "< dr.voisin@hopital-voisin.fr >",
    "<dr.voisin@hopital-voisin.fr",
    "",
]


@pytest.mark.parametrize("local_part_limit", [0, 6])
@pytest.mark.parametrize("argument", ARGUMENTS)
def test_it_parses_addresses_as_aiosmtpd_does(argument: str, local_part_limit: int):
    ours = GatewaySMTP.__new__(GatewaySMTP)  # only the parser is used: no connection, no loop
    theirs = SMTP.__new__(SMTP)
    ours.local_part_limit = theirs.local_part_limit = local_part_limit

    assert ours._getaddr(argument) == theirs._getaddr(argument)
