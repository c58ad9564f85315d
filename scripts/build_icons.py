#!/usr/bin/env python3
"""Builds static/icons/lucide.svg, the one SVG sprite of the app's icons, from node_modules/lucide-static.

Lucide (ISC licence) comes from npm (`npm ci`, see package.json); only the icons listed in ICONS go into the
sprite, each as `<symbol id="NAME">` used with `<svg><use href="…/lucide.svg#NAME"/></svg>` (templates: the
`icon` tag of apps/messaging/templatetags/webmail.py). The output and the licence are committed, so the app
needs no Node at run time; run this again after changing ICONS or the lucide-static version:

    npm ci && python3 scripts/build_icons.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "node_modules" / "lucide-static"
TARGET = ROOT / "static" / "icons"
ICONS = (
    "archive",
    "arrow-left",
    "book-user",
    "check",
    "chevron-down",
    "chevron-up",
    "circle-alert",
    "circle-check",
    "download",
    "ellipsis",
    "external-link",
    "file-pen",
    "file-text",
    "folder",
    "folder-input",
    "folders",
    "forward",
    "inbox",
    "list",
    "lock",
    "log-out",
    "mail",
    "mail-open",
    "menu",
    "paperclip",
    "printer",
    "reply",
    "reply-all",
    "rotate-ccw",
    "search",
    "send",
    "settings",
    "shield-check",
    "square-pen",
    "star",
    "trash-2",
    "upload",
    "user-check",
    "users",
    "x",
    "maximize-2",
    "panel-right",
)
_INNER = re.compile(r"<svg[^>]*>(.*)</svg>", re.S)


def symbol(name: str) -> str:
    text = (SOURCE / "icons" / f"{name}.svg").read_text(encoding="utf-8")
    found = _INNER.search(text)
    if found is None:
        raise SystemExit(f"build_icons: no <svg> element in {name}.svg")
    body = " ".join(line.strip() for line in found.group(1).strip().splitlines())
    return f'<symbol id="{name}" viewBox="0 0 24 24">{body}</symbol>'


def main() -> int:
    if not SOURCE.is_dir():
        print("build_icons: node_modules/lucide-static is missing: run `npm ci` first", file=sys.stderr)
        return 1
    version = json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))["version"]
    symbols = "\n".join(symbol(name) for name in ICONS)
    sprite = (
        f"<!-- Lucide v{version} (ISC licence, see LICENSE-lucide.txt), built by scripts/build_icons.py -->\n"
        '<svg xmlns="http://www.w3.org/2000/svg" fill="none" stroke="currentColor" stroke-width="2" '
        'stroke-linecap="round" stroke-linejoin="round">\n'
        f"{symbols}\n</svg>\n"
    )
    TARGET.mkdir(parents=True, exist_ok=True)
    (TARGET / "lucide.svg").write_text(sprite, encoding="utf-8")
    (TARGET / "LICENSE-lucide.txt").write_text(
        (SOURCE / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8"
    )
    print(f"build_icons: {len(ICONS)} icons -> {TARGET / 'lucide.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
