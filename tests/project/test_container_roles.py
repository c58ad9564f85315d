"""The image's roles: every service of compose.yaml runs a role the entrypoint knows, the SMTP roles start the
real commands, and the ports and secrets compose names exist. No Docker engine runs on these machines, so the
files are read and the entrypoint is run directly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "container_entrypoint.sh"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _entrypoint_roles() -> set[str]:
    labels = re.findall(r"^  ([a-z|]+)\)$", ENTRYPOINT.read_text(), re.M)
    return {role for label in labels for role in label.split("|")}


def test_it_runs_every_compose_service_of_the_image_under_a_known_role():
    services = _compose()["services"]
    roles = {name: service["command"][0] for name, service in services.items() if "command" in service}
    roles = {name: role for name, role in roles.items() if not role.startswith("redis-server")}
    assert {"web", "worker", "beat", "smtp", "submission", "migrate"} <= set(roles.values())
    unknown = {name: role for name, role in roles.items() if role not in _entrypoint_roles()}
    assert not unknown, f"compose services whose role the entrypoint does not know: {unknown}"


def test_it_publishes_the_smtp_ports_the_services_listen_on():
    services = _compose()["services"]
    expected = {
        "smtp": {"25": "GATEWAY_PORT", "465": "GATEWAY_SMTPS_PORT"},
        "submission": {"587": "SUBMISSION_PORT"},
    }
    for name, published in expected.items():
        service = services[name]
        assert service["profiles"] == ["smtp"]
        ports = dict(port.split(":")[-2:] for port in service["ports"])
        for host_port, setting in published.items():
            assert ports[host_port] == str(service["environment"][setting]), (name, setting)


def test_it_declares_every_secret_the_services_use():
    compose = _compose()
    used = {secret for service in compose["services"].values() for secret in service.get("secrets", [])}
    assert used <= set(compose["secrets"]), used - set(compose["secrets"])
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")


@pytest.mark.parametrize(("role", "command"), [("smtp", "run_smtp"), ("submission", "run_submission")])
def test_it_starts_the_smtp_roles_with_their_commands(role, command):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["MSSANTE_TESTING"] = "1"
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), role, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"manage.py {command}" in result.stdout
