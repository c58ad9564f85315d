"""Shared fixtures: personas, clients, and the harness plugins (Celery workers, browser, throwaway services).

Each plugin module under tests/plugins/ owns one concern; they are registered here so every test sees them.
"""

import pytest

pytest_plugins = [
    "tests.plugins.personas",
    "tests.plugins.browser",
    "tests.plugins.throwaway",
    "tests.plugins.celery_workers",
    "tests.plugins.bals",
]


@pytest.fixture(autouse=True)
def _fresh_mailbox_key_cache():
    """BAL keys and system folder ids are cached per process; a test's rolled-back rows must not serve
    the next test."""
    from apps.mailboxes.keys import clear_cache
    from apps.messaging.store.folders import clear_cache as clear_folders

    clear_cache()
    clear_folders()
    yield
    clear_cache()
    clear_folders()
