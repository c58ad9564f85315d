"""Every journal event type the code can emit, found by reading the source (not a hand-written list).

An event type is a string literal `domain.name` that reaches the journal: the first argument of
`record_event`/`build_event`, the `action=`/`reason=` keyword of any call, the default of a parameter named
`action`/`reason`, or a variable named `action`/`reason` or ending in `EVENT` (either branch of a
conditional expression).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENT = re.compile(r"^[a-z_]+\.[a-z_]+$")
EMITTERS = {"record_event", "build_event"}
KEYWORDS = {"action", "reason"}


def _literals(node: ast.AST | None) -> set[str]:
    if isinstance(node, ast.IfExp):  # "message.flagged" if flagged else "message.unflagged"
        return _literals(node.body) | _literals(node.orelse)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and EVENT.match(node.value):
        return {node.value}
    return set()


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _found_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        candidates: list[ast.AST | None] = []
        if isinstance(node, ast.Call):
            if _name(node.func) in EMITTERS and node.args:
                candidates.append(node.args[0])
            candidates += [kw.value for kw in node.keywords if kw.arg in KEYWORDS]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            defaults = dict(
                zip([a.arg for a in positional][-len(args.defaults) :], args.defaults, strict=False)
            )
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
            candidates += [value for name, value in defaults.items() if name in KEYWORDS]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(name.endswith("EVENT") or name in KEYWORDS for name in names):
                candidates.append(node.value)
        for candidate in candidates:
            found |= _literals(candidate)
    return found


def emitted_event_types() -> set[str]:
    found: set[str] = set()
    for folder in ("apps", "mssante_web"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found |= _found_in(ast.parse(path.read_text(encoding="utf-8")))
    return found
