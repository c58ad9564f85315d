"""Fixtures shared by the webmail's tests (imported by name; not a conftest, so other tests are untouched)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.mailboxes.keys import clear_cache


@pytest.fixture
def fresh_mailbox_keys() -> Iterator[None]:
    """BAL keys are cached per process by BAL id; a rolled-back test must not leave its keys behind."""
    clear_cache()
    yield
    clear_cache()
