"""The platform's PostgreSQL connections run without JIT compilation (ADR 0027)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from mssante_web.env import parse_database_url, without_jit


@pytest.mark.django_db
def test_a_postgresql_connection_has_jit_off():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_jit_off_keeps_the_options_the_database_url_asks_for():
    config = parse_database_url("postgres://h/db?sslmode=require&options=-c%20work_mem%3D8MB", Path("/"))
    options = without_jit(config)["OPTIONS"]
    assert options == {"sslmode": "require", "options": "-c work_mem=8MB -c jit=off"}
    assert without_jit(parse_database_url("postgres://h/db", Path("/")))["OPTIONS"] == {
        "options": "-c jit=off"
    }
