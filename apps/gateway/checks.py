"""Deployment checks of what the platform emits to other operators (`manage.py check --deploy`).

- MSS_NIL: the product's convergence reference goes in X-MSS-NIL on every message (Ref#2 ECO.2.4.3);
  production settings refuse to load without it (settings.py), this also checks its form.
- S/MIME: outgoing mail is signed only with a certificate that allows e-mail protection (signing.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from apps.gateway import mss_headers, signing


@register(Tags.security, deploy=True)
def check_outbound_identity(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    nil = settings.MSS_NIL
    if not nil:
        errors.append(
            Error(
                "MSS_NIL is empty: every message must carry X-MSS-NIL (Ref#2 ECO.2.4.3).",
                hint="Set MSS_NIL to the product reference given by convergence.esante.gouv.fr.",
                id="gateway.E001",
            )
        )
    elif not mss_headers.is_valid_nil(nil):
        errors.append(
            Error(
                f"MSS_NIL={nil!r} is not a valid X-MSS-NIL token.",
                hint="Letters, digits and . _ : - only.",
                id="gateway.E002",
            )
        )
    problem = signing.signer_problem()
    if problem is not None:
        errors.append(Error(f"S/MIME: {problem}.", id="gateway.E003"))
    return errors
