"""Who is acting, from where: carried from the request (or task) to every journal write.

A contextvar rather than passing `request` through every service: services stay callable from tasks, the
SMTP gateway and commands, and still record the IP and user agent when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""


_current: ContextVar[RequestContext] = ContextVar("audit_request_context", default=RequestContext())  # noqa: B039 - frozen


def current() -> RequestContext:
    return _current.get()


def context_from_request(request: HttpRequest) -> RequestContext:
    # REMOTE_ADDR is the proxy in production; the deployment sets the real client address there
    # (gunicorn --forwarded-allow-ips + proxy_protocol or a trusted X-Forwarded-For, see docs/operations.md).
    ip = request.META.get("REMOTE_ADDR") or None
    user_agent = (request.META.get("HTTP_USER_AGENT") or "")[:300]
    return RequestContext(ip=ip, user_agent=user_agent)


@contextmanager
def use(context: RequestContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with use(context_from_request(request)):
            return self.get_response(request)
