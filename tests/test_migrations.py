"""Alembic migrations: every one runs up and down on both databases, and they match the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from tests.conftest import PG_ADMIN_URL
from tracereplay.config import Settings
from tracereplay.db.engine import alembic_config, make_engine
from tracereplay.db.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database that has never seen a migration (a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        engine = make_engine(Settings(home=tmp_path / "home"))
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) when PostgreSQL is down
    name = f"tracereplay_migrations_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(
        Settings(home=tmp_path / "home", database_url=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_every_migration_runs_up_and_down_and_matches_the_models(empty_engine: Engine) -> None:
    config = alembic_config(empty_engine)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
    head = ScriptDirectory.from_config(config).get_current_head()
    model_tables = set(Base.metadata.tables)

    # One step at a time, so each downgrade is run from the revision it belongs to.
    for _ in revisions:
        command.upgrade(config, "+1")
    assert current_revision(empty_engine) == head
    assert tables(empty_engine) == model_tables | {"alembic_version"}
    assert schema_differences(empty_engine) == []

    for _ in revisions:
        command.downgrade(config, "-1")
    assert current_revision(empty_engine) is None
    assert tables(empty_engine) <= {"alembic_version"}

    command.upgrade(config, "head")
    assert current_revision(empty_engine) == head
    assert schema_differences(empty_engine) == []
    command.upgrade(config, "head")  # a second start changes nothing
    assert current_revision(empty_engine) == head
