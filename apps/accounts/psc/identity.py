"""What the platform reads from PSC's claims: the national id (idNat) and the authentication context.

PSC's userinfo carries `SubjectNameID` (the idNat: `8`+RPPS or `0`+ADELI, e.g. "810001234565") and
`SubjectRefPro` (professions and exercises); `preferred_username` holds the idNat too. The ID token carries
`acr` ("eidas1" for CPS/e-CPS) and echoes our `nonce`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PscIdentity:
    national_id: str
    sub: str
    acr: str
    nonce: str
    given_name: str
    family_name: str


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def identity_from_claims(extra_data: dict[str, Any]) -> PscIdentity:
    userinfo = extra_data.get("userinfo") or {}
    id_token = extra_data.get("id_token") or {}
    national_id = (
        _text(userinfo.get("SubjectNameID"))
        or _text(userinfo.get("preferred_username"))
        or _text(id_token.get("preferred_username"))
    )
    return PscIdentity(
        national_id=national_id.upper(),
        sub=_text(id_token.get("sub") or userinfo.get("sub")),
        acr=_text(id_token.get("acr")),
        nonce=_text(id_token.get("nonce")),
        given_name=_text(userinfo.get("given_name")),
        family_name=_text(userinfo.get("family_name")),
    )
