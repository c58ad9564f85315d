"""Dependencies declared as used: every third-party module imported by the platform's code is a runtime
dependency of pyproject.toml, every one imported by tests and benchmarks is a runtime or dev dependency, and
every declared dependency is used (imported, named in the settings, or listed below with the reason).

Imports inside functions and under `TYPE_CHECKING` count: they run too."""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.project.lockfiles import ROOT, declared

RUNTIME_CODE = ("apps", "mssante_web", "mssante_lib", "scripts", "manage.py")
# Developer tools among scripts/: they run with the dev dependencies (make screenshots), never in production.
DEV_SCRIPTS = ("scripts/screenshots.py", "scripts/build_icons.py")
DEV_CODE = ("tests", "bench", *DEV_SCRIPTS)
FIRST_PARTY = {"apps", "mssante_web", "tests", "bench", "scripts"}

# Import name -> distribution name, where they differ beyond `_` versus `-` and case.
IMPORT_NAMES = {
    "allauth": "django-allauth",
    "dateutil": "python-dateutil",
    "dns": "dnspython",
    "factory": "factory-boy",
    "gnupg": "python-gnupg",
    "jwt": "pyjwt",
    "yaml": "pyyaml",
}

# Declared dependencies no Python module of ours imports, and why they are declared all the same.
USED_WITHOUT_IMPORT = {
    "gunicorn": "the web role's server (scripts/container_entrypoint.sh, README)",
    "pytest-django": "pytest plugin: the test database and DJANGO_SETTINGS_MODULE (pyproject.toml)",
    "pytest-xdist": "pytest plugin: `make test` runs `pytest -n 2`",
    "ruff": "`make lint` and CI",
    "mypy": "`make typecheck` and CI",
    "django-stubs": "mypy's Django plugin (pyproject.toml [tool.mypy])",
    "types-requests": "type stubs for mypy",
    "uv": "`make lock` compiles requirements/*.txt",
    "import-linter": "`lint-imports` in .ci/run checks the layers of docs/design.md §1",
}


def _python_files(root: str) -> Iterator[Path]:
    path = ROOT / root
    if path.is_file():
        yield path
        return
    yield from path.rglob("*.py")


def _is_local(name: str, source: Path) -> bool:
    """A package or module of this repository's root, or a module beside the importing file (bench/ runs its
    scripts from there)."""
    return name in FIRST_PARTY or any(
        (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()
        for folder in (ROOT, source.parent)
    )


def third_party_imports(roots: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level name of each third-party module imported under `roots` -> files importing it."""
    found: dict[str, set[str]] = {}
    for root in roots:
        for name, files in _imports_under(root).items():
            found.setdefault(name, set()).update(files)
    return found


@functools.cache
def _imports_under(root: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for source in _python_files(root):
        if root == "scripts" and str(source.relative_to(ROOT)) in DEV_SCRIPTS:
            continue
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top not in sys.stdlib_module_names and not _is_local(top, source):
                    found.setdefault(top, set()).add(str(source.relative_to(ROOT)))
    return found


def distribution(import_name: str) -> str:
    return canonicalize_name(IMPORT_NAMES.get(import_name, import_name))


def _names(requirements: list) -> set[str]:
    return {canonicalize_name(requirement.name) for requirement in requirements}


def _settings_modules() -> set[str]:
    """Top-level names of the dotted paths the settings name as strings (INSTALLED_APPS, MIDDLEWARE…)."""
    tree = ast.parse((ROOT / "mssante_web" / "settings.py").read_text())
    return {
        node.value.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "." in node.value
        and node.value.replace(".", "").replace("_", "").isalnum()
    }


def test_it_declares_every_module_the_platform_imports_as_a_runtime_dependency():
    runtime, _ = declared()
    missing = {
        name: sorted(files)[:3]
        for name, files in third_party_imports(RUNTIME_CODE).items()
        if distribution(name) not in _names(runtime)
    }
    assert not missing, (
        f"imported by the platform but not in pyproject.toml's dependencies: {missing} "
        "(if the distribution's name differs from the import name, add it to IMPORT_NAMES)"
    )


def test_it_declares_every_module_tests_and_benchmarks_import():
    runtime, dev = declared()
    missing = {
        name: sorted(files)[:3]
        for name, files in third_party_imports(DEV_CODE).items()
        if distribution(name) not in _names(runtime + dev)
    }
    assert not missing, f"imported by tests or benchmarks but declared nowhere: {missing}"


def test_it_keeps_test_only_modules_out_of_the_runtime_dependencies():
    runtime, _ = declared()
    used_at_runtime = {distribution(name) for name in third_party_imports(RUNTIME_CODE)}
    used_by_tests = {distribution(name) for name in third_party_imports(DEV_CODE)}
    test_only = (used_by_tests - used_at_runtime) & _names(runtime)
    assert not test_only, f"runtime dependencies only tests import (move them to the dev extra): {test_only}"


def test_it_uses_every_declared_dependency():
    runtime, dev = declared()
    used = {distribution(name) for name in third_party_imports(RUNTIME_CODE + DEV_CODE)}
    used |= {distribution(name) for name in _settings_modules()}
    unused = (_names(runtime) | _names(dev)) - used - set(USED_WITHOUT_IMPORT)
    assert not unused, f"declared but never imported (drop them, or say why in USED_WITHOUT_IMPORT): {unused}"
    stale = {name for name in USED_WITHOUT_IMPORT if name in used}
    assert not stale, f"USED_WITHOUT_IMPORT names what is imported after all: {stale}"
