"""bench/load.py's minimal write exists only where the bench asks for it, never in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app
from server.config import Config


def rules(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules()}


def test_the_minimal_write_is_absent_by_default(app: Flask, client: FlaskClient) -> None:
    assert "/bench/write" not in rules(app)
    assert client.post("/bench/write").status_code == 404


def test_the_environment_leaves_it_off_unless_asked(tmp_path: Path) -> None:
    assert Config.from_env({"INSTANCE_PATH": str(tmp_path)}).BENCH_ENDPOINTS is False


def test_the_bench_configuration_registers_it(tmp_path: Path) -> None:
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path), "BENCH_ENDPOINTS": "1"})

    assert "/bench/write" in rules(create_app(config))


def test_production_refuses_it(tmp_path: Path) -> None:
    environ = {
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "s" * 50,
        "APP_ENV": "production",
        "BENCH_ENDPOINTS": "1",
    }
    with pytest.raises(ValueError, match="never in production"):
        Config.from_env(environ)
