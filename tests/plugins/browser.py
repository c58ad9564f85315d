"""Browser fixtures: Playwright (sync API) driving Debian's Chromium, for tests marked ``@pytest.mark.e2e``.

Usage, together with pytest-django's ``live_server``::

    @pytest.mark.e2e
    def test_it_logs_in(page, live_server, dr_alice):
        page.goto(live_server.url + "/comptes/login/")
        page.get_by_label("Adresse e-mail").fill(dr_alice.email)
        ...
        assert page.console_errors == []   # no JS error, no CSP violation

Fixtures:
- ``browser`` (session): one headless Chromium for the whole run (``/usr/bin/chromium``; Playwright never
  downloads a browser here). Override the binary with the ``CHROMIUM_PATH`` environment variable.
- ``page`` (function): a fresh context (own cookies, French locale, 1280x900) and page per test. Every console
  error and uncaught page error, CSP violations included, is appended to ``page.console_errors`` (a list of
  str) so a test can assert it stays empty. Default timeout: 10 s.
- ``mobile_page`` (function): same, with a phone-sized viewport (390x844), for responsive checks.
- ``screenshot_dir`` (session): ``var/screenshots`` (created), for screenshots a human may review.

The live server runs in a thread of this process while Playwright's sync API runs an event loop, so Django's
async-safety guard is relaxed for the test process (DJANGO_ALLOW_ASYNC_UNSAFE).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium not found at {executable}: apt-get install -y chromium (see docs/stack-notes)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _open_page(browser: object, **context_options: object) -> Iterator[object]:
    context = browser.new_context(locale="fr-FR", **context_options)  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.console_errors = errors
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    yield page
    # Stop the page's timers (the composer saves drafts as the user types) and let requests already sent
    # finish: a save still running in the live server while the test database is flushed deadlocked with
    # the flush's TRUNCATE (seen once in CI).
    page.goto("about:blank")
    page.wait_for_timeout(300)
    context.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    yield from _open_page(browser, viewport={"width": 1280, "height": 900})


@pytest.fixture
def mobile_page(browser: object) -> Iterator[object]:
    yield from _open_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
