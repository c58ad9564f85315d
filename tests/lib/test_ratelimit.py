"""mssante_lib.ratelimit: the one limiter of the platform (login, SMTP submission AUTH, API, directory)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from mssante_lib import ratelimit
from mssante_lib.ratelimit import Rule, parse_rules


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_parses_allauth_style_rules():
    assert parse_rules("5/5m/key,20/5m/ip") == [Rule(5, 300, "key"), Rule(20, 300, "ip")]
    assert parse_rules("30/m/ip, 2/10/user") == [Rule(30, 60, "ip"), Rule(2, 10, "user")]
    assert parse_rules("1/1d/key") == [Rule(1, 86400, "key")]


@pytest.mark.parametrize("bad", ["5/5m", "five/m/key", "5/xm/key", "5/5m/key/extra"])
def test_it_names_the_faulty_rule(bad):
    with pytest.raises(ValueError, match="invalid rate rule"):
        parse_rules(bad)


def test_it_refuses_past_the_limit_and_says_when_to_retry():
    rules = [Rule(3, 60, "key")]
    usages = [ratelimit.consume("t", rules, {"key": "a"}) for _ in range(4)]
    assert [u.allowed for u in usages] == [True, True, True, False]
    assert [u.remaining for u in usages[:3]] == [2, 1, 0]
    assert 1 <= usages[3].retry_after <= 60


def test_a_refused_attempt_is_not_counted():
    rules = [Rule(1, 60, "key")]
    assert ratelimit.consume("t", rules, {"key": "a"})
    for _ in range(5):
        assert not ratelimit.consume("t", rules, {"key": "a"})
    # Only the allowed attempt is in the window: rolling it back reopens the door.
    ratelimit.consume("t", rules, {"key": "b"}).rollback()
    assert ratelimit.consume("t", rules, {"key": "b"})


def test_rollback_gives_back_a_legitimate_attempt():
    rules = [Rule(2, 60, "key")]
    for _ in range(10):
        ratelimit.consume("t", rules, {"key": "a"}).rollback()
    assert ratelimit.consume("t", rules, {"key": "a"}).remaining == 1


def test_scopes_and_actions_are_counted_apart():
    rules = [Rule(1, 60, "key"), Rule(3, 60, "ip")]
    assert ratelimit.consume("login", rules, {"key": "a", "ip": "10.0.0.1"})
    assert not ratelimit.consume("login", rules, {"key": "a", "ip": "10.0.0.2"})  # same key
    assert ratelimit.consume("login", rules, {"key": "b", "ip": "10.0.0.1"})
    assert ratelimit.consume("login", rules, {"key": "c", "ip": "10.0.0.1"})
    assert not ratelimit.consume("login", rules, {"key": "d", "ip": "10.0.0.1"})  # the address is spent
    assert ratelimit.consume("other", rules, {"key": "a", "ip": "10.0.0.1"})


def test_a_scope_without_value_is_skipped():
    rules = [Rule(1, 60, "key"), Rule(1, 60, "ip")]
    assert ratelimit.consume("t", rules, {"key": "a", "ip": None})
    assert ratelimit.consume("t", rules, {"key": "b", "ip": ""})


def test_dry_run_counts_nothing():
    rules = [Rule(1, 60, "key")]
    for _ in range(3):
        assert ratelimit.consume("t", rules, {"key": "a"}, dry_run=True)
    assert ratelimit.consume("t", rules, {"key": "a"})
    assert not ratelimit.consume("t", rules, {"key": "a"}, dry_run=True)


def test_clear_forgets_the_current_window():
    rules = [Rule(1, 60, "key")]
    assert ratelimit.consume("t", rules, {"key": "a"})
    ratelimit.clear("t", rules, {"key": "a"})
    assert ratelimit.consume("t", rules, {"key": "a"})


def test_the_window_slides_across_a_boundary(monkeypatch):
    """3 attempts late in one minute and 1 early in the next are 4 within 60 s: refused (fixed windows
    would have let a burst of twice the limit through)."""
    clock = [600.0 + 50]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    rules = [Rule(3, 60, "key")]
    assert all(ratelimit.consume("t", rules, {"key": "a"}) for _ in range(3))
    clock[0] = 660.0 + 5  # next window, 15 s after the first attempt
    refused = ratelimit.consume("t", rules, {"key": "a"})
    assert not refused and 1 <= refused.retry_after <= 60
    clock[0] = 660.0 + 59  # the previous window's weight is almost gone
    assert ratelimit.consume("t", rules, {"key": "a"})
