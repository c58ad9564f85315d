"""Reading the hashed lock files (requirements/*.txt, compiled by `make lock`) and pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    marker: str
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """name -> Pin; refuses any entry that is not `name==version [; marker]` followed by sha256 hashes."""
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, *options = re.split(r"\s+(?=--)", line)
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(.*))?", head.strip())
        if match is None:
            raise AssertionError(f"{path.name}: not an exact pin: {line[:120]!r}")
        hashes = tuple(option.split("=", 1)[1] for option in options if option.startswith("--hash="))
        name = canonicalize_name(match.group(1))
        pins[name] = Pin(name, match.group(3), (match.group(4) or "").strip(), hashes)
    return pins


def declared() -> tuple[list[Requirement], list[Requirement]]:
    """(runtime, dev) requirements of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    dev = [Requirement(text) for text in project["optional-dependencies"]["dev"]]
    return runtime, dev
