"""The platform's one rate limiter: fixed windows counted in the shared cache (Redis in production).

Every entry point that must slow a caller down uses it: failed logins (apps.accounts.adapters), SMTP
submission's AUTH (apps.gateway.submission), the applicative API per credential and the directory search
per person. Rules are written as allauth writes them, `"5/5m/key,20/5m/ip"`: at most 5 attempts in 5
minutes per key (the login) and 20 per client address; a period is seconds or takes s, m, h or d.

Windows slide (approximated from two fixed ones, see `consume`). `cache.add()` then `cache.incr()` is atomic
on Redis, so parallel requests cannot all slip under the limit.
A refused attempt is not counted (a caller hammering a closed door does not push the reopening back), and
`Usage.rollback()` gives back an attempt that turned out to be legitimate (a successful login).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.cache import cache

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rule:
    limit: int
    period: int  # seconds
    scope: str  # which value of the caller it counts: "key", "ip", "user", "credential"…


def parse_rules(text: str) -> list[Rule]:
    """`"5/5m/key,20/5m/ip"` -> two rules; raises ValueError with the faulty part named."""
    rules = []
    for part in (p.strip() for p in (text or "").split(",") if p.strip()):
        try:
            limit, period, scope = part.split("/")
            unit = period[-1] if period[-1] in _UNITS else "s"
            amount = period[:-1] if period[-1] in _UNITS else period
            rules.append(Rule(int(limit), int(amount or 1) * _UNITS[unit], scope))
        except (ValueError, IndexError):
            raise ValueError(
                f"invalid rate rule {part!r}: expected LIMIT/PERIOD/SCOPE, e.g. 5/5m/key"
            ) from None
    return rules


@dataclass
class Usage:
    allowed: bool
    retry_after: int = 0  # seconds until the first closed window reopens (0 when allowed)
    remaining: int = 0  # attempts left under the tightest rule
    limit: int = 0  # the tightest rule's limit
    _counted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.allowed

    def rollback(self) -> None:
        """Give back the attempts this usage counted."""
        for key in self._counted:
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
                cache.decr(key)
        self._counted.clear()


def _count(key: str, period: int) -> int:
    cache.add(key, 0, timeout=period * 2)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period * 2)
        return 1


def _window(action: str, rule: Rule, value: object, index: int) -> str:
    return f"rl:{action}:{rule.scope}:{value}:{rule.period}:{index}"


def consume(
    action: str, rules: Sequence[Rule], values: Mapping[str, object], *, dry_run: bool = False
) -> Usage:
    """Count one attempt of `action` under every rule whose scope has a value; refuse it (and count nothing)
    once any rule is exceeded. A rule whose scope has no value (no client address known) is skipped.

    Sliding window, approximated from two fixed windows (the current one and the previous one weighted by
    how much of it still lies within the last `period` seconds): no burst of twice the limit across a
    window boundary, two cache keys per rule."""
    now = time.time()
    usage = Usage(allowed=True)
    tightest: float | None = None
    for rule in rules:
        value = values.get(rule.scope)
        if value is None or value == "":
            continue
        index, elapsed = divmod(now, rule.period)
        key = _window(action, rule, value, int(index))
        if dry_run:
            current = int(cache.get(key) or 0) + 1
        else:
            current = _count(key, rule.period)
            usage._counted.append(key)
        previous = int(cache.get(_window(action, rule, value, int(index) - 1)) or 0)
        weight = 1 - elapsed / rule.period
        count = current + previous * weight
        if count > rule.limit:
            usage.allowed = False
            usage.retry_after = max(usage.retry_after, _retry_after(rule, current, previous, elapsed))
        if tightest is None or rule.limit - count < tightest:
            tightest, usage.limit = rule.limit - count, rule.limit
    usage.remaining = max(0, math.floor(tightest or 0))
    if not usage.allowed:
        usage.rollback()
    return usage


def _retry_after(rule: Rule, current: int, previous: int, elapsed: float) -> int:
    """Seconds until one more attempt fits: the window's end if the current window alone is full, else
    until the previous window's weight has shrunk enough."""
    if current > rule.limit or previous == 0:
        return max(1, math.ceil(rule.period - elapsed))
    fits_at = (1 - (rule.limit - current) / previous) * rule.period
    return max(1, math.ceil(fits_at - elapsed))


def clear(action: str, rules: Sequence[Rule], values: Mapping[str, object]) -> None:
    """Forget the current windows of `action` for these values (after a password reset)."""
    now = time.time()
    for rule in rules:
        value = values.get(rule.scope)
        if value is not None and value != "":
            index = int(now // rule.period)
            cache.delete_many([_window(action, rule, value, index), _window(action, rule, value, index - 1)])
