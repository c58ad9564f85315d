"""Test-only wiring: the account adapter with allauth's second-factor stage swapped for the PSC-aware one."""

from __future__ import annotations

from apps.accounts.adapters import AccountAdapter
from apps.accounts.psc.stages import psc_aware_login_stages


class PscAwareStagesAccountAdapter(AccountAdapter):
    def get_login_stages(self) -> list[str]:
        return psc_aware_login_stages(super().get_login_stages())
