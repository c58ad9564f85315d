#!/usr/bin/env python3
"""`make screenshots`: desktop and phone screenshots of the main pages into docs/screenshots/.

Runs against a server already serving the demo data (`make run`, or any URL given with --base) and the
same database (DATABASE_URL): each persona gets a Django session created here, past the second factor,
so no TOTP code is typed. Debian's Chromium through Playwright, like the browser tests.

    .venv/bin/python scripts/screenshots.py --base http://127.0.0.1:8000 [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"bureau": (1366, 900), "telephone": (360, 740)}


def session_cookie(email: str) -> str:
    """A session key for the persona, as after a password and second-factor login."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssante_web.settings")
    os.environ.setdefault("MSSANTE_DEV", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(email=email)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    # Past the second factor: the demo patient has none yet (he enrols at first login), so the session is
    # marked strong as a Pro Santé Connect one would be. A screenshot tool's shortcut, never the app's.
    from apps.accounts.selectors import STRONG_AUTH_PSC, STRONG_AUTH_SESSION_KEY

    session[STRONG_AUTH_SESSION_KEY] = STRONG_AUTH_PSC
    session.create()
    return session.session_key or ""


def pages(email: str) -> list[tuple[str, str]]:
    """(name, path) of the main pages of a persona, found from its demo data."""
    from apps.mailboxes.models import Mailbox
    from apps.messaging.models import MessageCopy

    if email.endswith("@example.test"):
        copy = MessageCopy.objects.filter(mailbox__patient_profile__user__email=email).order_by("-pk").first()
        thread = [("patient-message", f"/patient/messages/{copy.pk}/")] if copy is not None else []
        return [("patient-boite", "/patient/"), *thread]
    mailbox = Mailbox.objects.filter(memberships__user__email=email).order_by("pk").first()
    if mailbox is None:
        return []
    copy = MessageCopy.objects.filter(mailbox=mailbox, folder__role="inbox").order_by("-received_at").first()
    found = [
        ("boite", f"/messagerie/{mailbox.pk}/"),
        ("ecrire", f"/messagerie/{mailbox.pk}/ecrire/"),
    ]
    if copy is not None:
        found.insert(1, ("message", f"/messagerie/{mailbox.pk}/message/{copy.pk}/"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="URL of the running demo server")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument(
        "--persona",
        action="append",
        default=None,
        help="e-mail of a persona (repeatable; default: the secretariat and the patient)",
    )
    parser.add_argument("--dark", action="store_true", help="also in dark mode (files named *-sombre.png)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    personas = args.persona or ["bob.leroy@demo.mssante.fr", "paul.bernard@example.test"]
    # Database work first: Playwright's sync API runs an event loop, where Django refuses queries.
    plan = [(session_cookie(email), pages(email)) for email in personas]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        for cookie, paths in plan:
            schemes = ["light", "dark"] if args.dark else ["light"]
            combos = [(scheme, size) for scheme in schemes for size in SIZES.items()]
            for scheme, (size_name, (width, height)) in combos:
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="fr-FR", color_scheme=scheme
                )
                context.add_cookies([{"name": "sessionid", "value": cookie, "url": args.base}])
                page = context.new_page()
                for name, path in paths:
                    page.goto(args.base + path)
                    page.wait_for_load_state("load")
                    page.wait_for_timeout(400)
                    suffix = "-sombre" if scheme == "dark" else ""
                    target = out / f"{name}-{size_name}{suffix}.png"
                    page.screenshot(path=str(target))
                    print(target)
                context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
