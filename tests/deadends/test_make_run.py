"""`make run` starts clean (issue 14, item 10): bounded connections, real ports, no secret, no ERROR line."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mssante_web.management.demo_personas import DEMO_PASSWORD, PERSONAS

ROOT = Path(__file__).resolve().parents[2]


def _devrun():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("devrun_under_test", ROOT / "scripts" / "devrun.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dev_server_does_not_keep_a_connection_per_thread():
    env = {k: v for k, v in os.environ.items() if k not in {"DB_CONN_MAX_AGE", "MSSANTE_TESTING"}}
    env["MSSANTE_DEV"] = "1"
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='mssante_web.settings'; django.setup(); "
    code += "from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"


def test_the_banner_prints_the_ports_really_used_and_every_persona(monkeypatch, capsys):
    monkeypatch.setenv("DEVRUN_SMTP_PORT", "31025")
    monkeypatch.setenv("DEVRUN_SMTPS_PORT", "31465")
    monkeypatch.setenv("DEVRUN_SUBMISSION_PORT", "31587")
    devrun = _devrun()
    devrun.banner(full=True)
    text = capsys.readouterr().out
    assert "31025" in text and "31465" in text and "31587" in text
    assert "2525" not in text and "2587" not in text
    assert "sans second facteur" not in text
    assert DEMO_PASSWORD in text
    for one in PERSONAS:
        assert one.email in text
    plan = dict(devrun.plan_children(full=True))
    if "smtp" in plan:
        assert "31025" in plan["smtp"] and "31465" in plan["smtp"]
    if "submission" in plan:
        assert "31587" in plan["submission"]


def test_the_readme_gives_the_demo_password_and_every_persona():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert DEMO_PASSWORD in readme
    for one in PERSONAS:
        assert one.email in readme, one.email


@pytest.mark.django_db
def test_a_degraded_healthz_logs_a_warning_not_an_error(client, caplog, monkeypatch):
    from mssante_web import health

    monkeypatch.setattr(health, "check_broker_and_workers", lambda: ({"ok": True}, {"ok": False, "count": 0}))
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("healthz: degraded (workers)" in r.getMessage() for r in caplog.records)
