"""mssante_lib.jobs: services enqueue tasks by name; every name the code uses is a registered task."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.db import transaction

from apps.messaging import constants
from mssante_lib.jobs import UnknownTask, enqueue_on_commit, task_named

ROOT = Path(__file__).resolve().parents[2]
ENQUEUERS = {"enqueue", "enqueue_on_commit"}


def _names_used_in_code() -> set[str]:
    """First arguments of enqueue()/enqueue_on_commit() calls: string literals, or *_TASK constants."""
    names = set()
    for path in (ROOT / "apps").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") in {"enqueue", "enqueue_on_commit"}
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant):
                names.add(first.value)
            elif isinstance(first, ast.Name):
                names.add(getattr(constants, first.id))
    return names


def test_every_task_name_used_by_a_service_is_registered():
    names = _names_used_in_code()
    assert len(names) >= 7  # messaging (2), gateway (2), patients (2), mailboxes, trust
    for name in names:
        assert task_named(name).name == name


def test_a_wrong_name_fails_inside_the_transaction(db):
    with pytest.raises(UnknownTask, match="apps.nowhere.tasks.nothing"), transaction.atomic():
        enqueue_on_commit("apps.nowhere.tasks.nothing", 1)
