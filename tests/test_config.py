"""Configuration from the environment, generated secrets and the SQLite connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from server import create_app
from server.config import Config
from server.extensions import db


def test_secret_key_is_generated_into_instance_once(tmp_path: Path) -> None:
    first = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    second = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    assert len(first.SECRET_KEY) >= 40
    assert first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "secret_key").read_text() == first.SECRET_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_from_the_environment_wins(tmp_path: Path) -> None:
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 50})
    assert config.SECRET_KEY == "s" * 50
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Config.from_env(
            {"INSTANCE_PATH": str(tmp_path), "APP_ENV": "production", "SECRET_KEY": "changethis"}
        )


def test_default_database_is_sqlite_under_instance(tmp_path: Path) -> None:
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    assert f"sqlite:///{tmp_path / 'app.db'}" == config.SQLALCHEMY_DATABASE_URI


def test_postgres_urls_use_psycopg_3(tmp_path: Path) -> None:
    config = Config.from_env(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgres://u@db.example/needling"}
    )
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@db.example/needling"


def test_bad_boolean_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        Config.from_env({"INSTANCE_PATH": str(tmp_path), "TESTING": "maybe"})


def test_offline_answer_grace_is_a_week_unless_set(tmp_path: Path) -> None:
    default = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    chosen = Config.from_env({"INSTANCE_PATH": str(tmp_path), "OFFLINE_ANSWER_GRACE_HOURS": "48"})
    assert (default.OFFLINE_ANSWER_GRACE_HOURS, chosen.OFFLINE_ANSWER_GRACE_HOURS) == (168, 48)


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    app: Flask = create_app(Config.for_tests(f"sqlite:///{tmp_path / 'pragmas.db'}", tmp_path))
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_sqlites_wait_for_another_writer_is_set_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'busy.db'}",
        "SQLITE_BUSY_MS": "1500",
    }
    default = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    app: Flask = create_app(Config.from_env(environ))

    assert default.SQLITE_BUSY_MS == 5000
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1500
