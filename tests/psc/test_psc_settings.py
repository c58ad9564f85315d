"""PSC is configured only from the environment; settings are read in a fresh interpreter for each case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

_PRINT_APPS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps(settings.SOCIALACCOUNT_PROVIDERS['openid_connect']))"
)


def _settings_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PSC_")}
    base.update({"DJANGO_SETTINGS_MODULE": "mssante_web.settings", "MSSANTE_TESTING": "1", **env})
    return subprocess.run(
        [sys.executable, "-c", _PRINT_APPS], env=base, cwd=settings.BASE_DIR, capture_output=True, text=True
    )


def test_it_configures_psc_from_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "psc_secret"
    secret_file.write_text("s3cret-from-file\n")

    done = _settings_with(
        {
            "PSC_ISSUER": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
            "PSC_CLIENT_ID": "operateur-demo",
            "PSC_CLIENT_SECRET_FILE": str(secret_file),
        }
    )

    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout.strip().splitlines()[-1])
    assert config["provider_class"] == "apps.accounts.psc.provider.PSCProvider"
    assert config["OAUTH_PKCE_ENABLED"] is True
    (app,) = config["APPS"]
    assert app["provider_id"] == "psc"
    assert app["client_id"] == "operateur-demo"
    assert app["secret"] == "s3cret-from-file"
    assert app["settings"]["server_url"] == "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
    assert app["settings"]["auth_params"] == {"acr_values": "eidas1"}
    assert app["settings"]["scope"] == ["openid", "scope_all"]


def test_it_has_no_psc_app_without_an_issuer() -> None:
    done = _settings_with({})

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["APPS"] == []


@pytest.mark.parametrize("missing", ["PSC_CLIENT_ID", "PSC_CLIENT_SECRET"])
def test_it_refuses_to_start_with_an_incomplete_psc_configuration(missing: str) -> None:
    env = {"PSC_ISSUER": "https://psc.example/realms/x", "PSC_CLIENT_ID": "id", "PSC_CLIENT_SECRET": "secret"}
    del env[missing]

    done = _settings_with(env)

    assert done.returncode != 0
    assert "PSC_ISSUER needs PSC_CLIENT_ID and PSC_CLIENT_SECRET" in done.stderr


def test_it_never_stores_social_tokens() -> None:
    assert settings.SOCIALACCOUNT_STORE_TOKENS is False
