import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and used TOTP codes live in the cache (this run's own Redis db): start clean."""
    cache.clear()
    yield
    cache.clear()
