"""Shared fixtures: personas, clients, and the harness plugins (Celery workers, browser, throwaway services).

Each plugin module under tests/plugins/ owns one concern; they are registered here so every test sees them.
"""

pytest_plugins = [
    "tests.plugins.personas",
    "tests.plugins.browser",
    "tests.plugins.throwaway",
    "tests.plugins.celery_workers",
    "tests.plugins.bals",
]
