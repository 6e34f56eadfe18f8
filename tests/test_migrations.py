"""``flask db upgrade`` builds the whole schema from empty; ``downgrade`` takes it away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import Base
from tests.databases import POSTGRES_UNAVAILABLE, drop_postgres_database, postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a brand-new, empty database of each kind."""
    name = f"needling_migrations_{id(request)}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    elif POSTGRES_UNAVAILABLE:
        pytest.skip(POSTGRES_UNAVAILABLE)
    else:
        url = postgres_database(name)
    app = create_app(Config.for_tests(url, tmp_path))
    with app.app_context():
        yield app
        db.engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(name)


def test_upgrade_from_empty_builds_exactly_the_models(empty_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_removes_every_table(empty_app: Flask) -> None:
    upgrade()
    downgrade(revision="base")
    assert inspect(db.engine).get_table_names() == ["alembic_version"]
