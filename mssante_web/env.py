"""Environment helpers for settings: typed reads, `*_FILE` secrets and database URLs.

Every setting of the platform comes from the environment so that one settings module serves development,
tests and production. A secret `FOO` may instead be given as `FOO_FILE=/run/secrets/foo` (Docker/Kubernetes
secrets), which keeps it out of `ps` output and process environments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


class ImproperlyConfiguredEnv(Exception):
    """A variable is present but cannot be understood; the message names it."""


def env(name: str, default: str | None = None) -> str | None:
    """Read `name`, or the content of the file named by `name_FILE`, or `default`."""
    file_var = os.environ.get(f"{name}_FILE")
    if file_var:
        try:
            return Path(file_var).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfiguredEnv(f"{name}_FILE={file_var!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not an integer") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = env(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_database_url(url: str, base_dir: Path) -> dict[str, Any]:
    """Turn `postgres://user:pass@host:port/name?opt=v` or `sqlite:///path` into a DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"sqlite", "sqlite3"}:
        raw_path = unquote(parts.path)
        # sqlite:///relative.db -> relative to the project; sqlite:////abs/path -> absolute.
        db_path = Path(raw_path[1:])
        if not db_path.is_absolute():
            db_path = base_dir / db_path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db_path)}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = dict(parse_qsl(parts.query))
        config: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "mssante",
            "USER": unquote(parts.username or "") or "postgres",
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
        }
        if options:
            config["OPTIONS"] = options
        return config
    raise ImproperlyConfiguredEnv(
        f"DATABASE_URL scheme {scheme!r} is not supported (postgres:// or sqlite:///)"
    )


def without_jit(config: dict[str, Any]) -> dict[str, Any]:
    """A PostgreSQL DATABASES entry whose connections run with `jit=off` (ADR 0027), keeping the options
    the URL asked for (sslmode, other `-c` settings)."""
    options = dict(config.get("OPTIONS", {}))
    options["options"] = (options.get("options", "") + " -c jit=off").strip()
    return {**config, "OPTIONS": options}
