"""The URL conf as the UI sweep sees it: every route, its parameters filled from a persona's data.

`all_routes()` walks the URL conf (nothing is listed by hand); `fill(route, values)` builds a path from a
persona's values for the route's parameters (a parameter it has no value for gives None: the route
cannot be opened by that persona). Routes a browser never opens as a page are in EXCLUDED, each with its
reason; a route is a GET route unless the test client's GET answers 405 (POST-only forms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str

    @property
    def params(self) -> list[str]:
        return [match.group("name") for match in _PARAM.finditer(self.pattern)]


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> list[Route]:
    routes = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace
            routes += _walk(entry.url_patterns, prefix + str(entry.pattern), inner or namespace)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            routes.append(Route(name or prefix + str(entry.pattern), prefix + str(entry.pattern)))
    return routes


def all_routes() -> list[Route]:
    return _walk(get_resolver().url_patterns)


def fill(route: Route, values: dict[str, object]) -> str | None:
    """The path of the route with the persona's values, or None when one is missing or the pattern is a
    regular expression (allauth's token routes, all excluded)."""
    if "^" in route.pattern or "(?P" in route.pattern:
        return None
    missing = [name for name in route.params if name not in values]
    if missing:
        return None
    return "/" + _PARAM.sub(lambda match: str(values[match.group("name")]), route.pattern)


# Prefixes and names of routes that are not pages of the app, with the reason.
EXCLUDED_PREFIXES = {
    "admin/": "Django's own admin (superusers only; issue 14 moves every operator task into the app)",
    "api/v1/": "applicative API: JSON for software, token-authenticated, no page",
    "comptes/social/": "allauth's social-account aliases: no provider but Pro Santé Connect (OIDC)",
    "comptes/3rdparty/": "allauth's third-party account pages: no provider but Pro Santé Connect (OIDC)",
    "comptes/oidc/": "Pro Santé Connect redirections: leave for an outside identity provider",
}
EXCLUDED_NAMES = {
    "healthz": "health check for load balancers (plain text)",
    "autoconfig-thunderbird": "mail-client autoconfiguration (XML)",
    "mail/config-v1.1.xml": "mail-client autoconfiguration (XML)",
    "autodiscover": "mail-client autodiscovery (XML)",
    "Autodiscover/Autodiscover.xml": "mail-client autodiscovery (XML)",
    "account_confirm_email": "single-use token from an e-mail (allauth regex route)",
    "account_reset_password_from_key": "single-use token from an e-mail (allauth regex route)",
    "mailboxes:lifecycle-oppose": "single-use token from an inactivity notice",
    "mailboxes:invitation-accept": "single-use token from an invitation e-mail (test_deadends_journeys)",
    "mailboxes:invitation-resend": "an action on one pending invitation (tests/deadends/test_invitations.py)",
    "mailboxes:invitation-revoke": "an action on one pending invitation (tests/deadends/test_invitations.py)",
    "confiance:echecs-tls": "needs a remote operator with recorded TLS failures; no demo data (tests/trust)",
    "messaging:attachment-download": "a file (attachment), not a page; its PDF preview is checked in place",
    "patients:attachment": "a file (attachment), not a page",
    "patients:document-download": "a file (patient document), not a page",
    "accounts:recovery-codes-download": "a file (recovery codes as text)",
    "mfa_download_recovery_codes": "a file (recovery codes as text)",
    "audit:event-export": "a file (CSV export)",
    "mailboxes:admin-export": "a file (JSON export of the annuaire)",
    "mailboxes:indicators-summary-csv": "a file (CSV)",
    "mailboxes:indicators-csv": "a file (CSV)",
    "messaging:folder-poll": "the list's 30 s poll (no page; tests/messaging/test_webmail_panes.py)",
    "messaging:message-replying": "an htmx fragment of the reading pane, polled (shown inside the message)",
    "messaging:recipient-check": "an htmx fragment of the composer (shown inside it)",
    "annuaire:autocomplete": "an htmx fragment of the composer and the directory (shown inside them)",
    "account_signup": "sign-up is closed: accounts are created by administrators",
    "account_email_verification_sent": "allauth's e-mail verification notice: addresses come from admins",
    "account_confirm_login_code": "login by code is not enabled",
    "account_request_reauthentication_code": "reauthentication by code is not enabled",
    "account_confirm_reauthentication_code": "reauthentication by code is not enabled",
    "mfa_reauthenticate_webauthn": "WebAuthn ceremony (needs a security key)",
    "messaging:validation-queue": "an applicative BAL's review queue (test_validation_browser.py)",
    "messaging:validation-detail": "an applicative BAL's review page (test_validation_browser.py)",
    "mfa_authenticate": "second-factor step of a login in progress (covered by the login browser tests)",
}


def exclusion(route: Route) -> str | None:
    if route.name in EXCLUDED_NAMES:
        return EXCLUDED_NAMES[route.name]
    return next((why for prefix, why in EXCLUDED_PREFIXES.items() if route.pattern.startswith(prefix)), None)
