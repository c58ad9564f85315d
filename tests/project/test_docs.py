"""Docs that code cites stay true: every setting read from the environment is in the README's table, and
every citation of the house rules (`design.md`, `design.md §N`) names a section that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_READERS = {"env", "env_int", "env_bool", "env_list", "env_float"}


def _settings_variables() -> set[str]:
    tree = ast.parse((ROOT / "mssante_web" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ENV_READERS
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_it_documents_every_setting_read_from_the_environment():
    variables = _settings_variables()
    assert len(variables) > 50, "the settings' environment readers were not found"
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "README.md").read_text()))
    missing = sorted(variables - documented)
    assert not missing, f"settings read from the environment but absent from the README's table: {missing}"


def _citing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("apps", "mssante_web", "scripts", "tests", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_it_cites_only_sections_of_the_house_rules_that_exist():
    design = ROOT / "docs" / "design.md"
    sections = set(re.findall(r"^## (\d+)\.", design.read_text(), re.M))
    assert sections, "docs/design.md has no numbered section"
    cited: dict[str, list[str]] = {}
    for path in _citing_files():
        for number in re.findall(r"(?<![./\w])(?:docs/)?design\.md(?: §(\d+))?", path.read_text()):
            if number and number not in sections:
                cited.setdefault(number, []).append(str(path.relative_to(ROOT)))
    assert not cited, f"citations of design.md sections that do not exist: {cited}"
