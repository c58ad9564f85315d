"""The applicative API's error: a leaf, so that authentication and the certificate checks both raise it."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success: HTTP status, a stable machine code and a French sentence."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
