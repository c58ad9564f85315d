"""A BAL's quota and usage as read from its own row: a leaf, so that `Mailbox.quota_usage` needs no import
of the quota services (quotas.py), which import the models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

DEFAULT_QUOTA_BYTES = 5 * 1024**3
WARNING_LEVELS = (80, 95)


def quota_of(mailbox: Any) -> int:
    if mailbox.quota_bytes is not None:
        return int(mailbox.quota_bytes)
    return int(getattr(settings, "MAILBOX_DEFAULT_QUOTA_BYTES", DEFAULT_QUOTA_BYTES))


def level_for(used: int, quota: int) -> int:
    """The highest warning threshold (0, 80, 95) that `used` bytes reach under `quota`."""
    reached = 0
    for level in WARNING_LEVELS:
        if quota <= 0 or used * 100 >= quota * level:
            reached = level
    return reached


@dataclass(frozen=True)
class QuotaUsage:
    used_bytes: int
    quota_bytes: int
    is_default: bool

    @property
    def percent(self) -> int:
        if self.quota_bytes <= 0:
            return 100
        return min(100, self.used_bytes * 100 // self.quota_bytes)

    @property
    def level(self) -> str:
        """ "ok", "warning" (80 %), "critical" (95 %) or "full"."""
        if self.used_bytes >= self.quota_bytes:
            return "full"
        return {0: "ok", 80: "warning", 95: "critical"}[level_for(self.used_bytes, self.quota_bytes)]

    @property
    def free_bytes(self) -> int:
        return max(0, self.quota_bytes - self.used_bytes)


def get_quota_usage(mailbox: Any) -> QuotaUsage:
    """What `mailboxes/_quota.html` shows (BAL page, webmail): no query, the counter is on the row."""
    return QuotaUsage(
        used_bytes=max(0, int(mailbox.used_bytes)),
        quota_bytes=quota_of(mailbox),
        is_default=mailbox.quota_bytes is None,
    )
