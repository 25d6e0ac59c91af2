"""Engine and session factory, SQLite pragmas, and start-up migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.errors import ServiceUnavailable, StartupError
from tracereplay.jsontext import json_dumps

if TYPE_CHECKING:
    from alembic.config import Config

    from tracereplay.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(settings: Settings) -> Engine:
    """The engine for the configured database: SQLite pragmas set on every connection."""
    url, synchronous = settings.resolved_database_url, settings.sqlite_synchronous
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Checkpoint every ~40 MB of WAL rather than 4 MB: fewer, larger copies under
            # heavy ingestion; the WAL file is truncated back afterwards.
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.execute("PRAGMA journal_size_limit=67108864")
            cursor.close()

        return engine
    return create_engine(
        url,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
    )


def check_database(engine: Engine) -> str:
    """The database's dialect name once it answers a query; ServiceUnavailable if it does not."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
    return engine.dialect.name


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# Alembic is imported only where migrations run: commands that only read skip its ~11 MB.
def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; the server calls this at every start."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:
        raise StartupError(
            f"could not migrate the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc}. Check that the database is reachable and that this user may create tables."
        ) from exc
