"""Shared fixtures: a real database (SQLite file and PostgreSQL server), the app, a real server.

Every database test runs twice, once per backend. PostgreSQL tests use a database created for
this test session; under CI=true an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext

pytest_plugins = ["tests.support.plugin"]

API_KEY = "tr-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
REDIS_URL = os.environ.get("TRACEREPLAY_TEST_REDIS", "redis://127.0.0.1:6379/14")
PG_ADMIN_URL = os.environ.get("TRACEREPLAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "projects, api_keys, traces, spans, trace_tags, scores, log_records, replays, model_prices, "
    "prompt_templates, prompt_versions, prompt_labels"
)


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    problem = _pg_reachable()
    if problem is not None:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"tracereplay_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for an isolated server: its own home, an empty database, a known API key."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_url")
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        init_api_key=API_KEY,
        port=0,
        # In-process tests decode in the server; the real-server tests (`server` fixture)
        # run the default helper processes.
        ingest_processes=0,
    )


@pytest.fixture
def redis_queue() -> Iterator[str]:
    """An empty Redis database for a Huey queue; under CI=true an unreachable Redis fails."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def postgresql_queue(postgres_url: str, tmp_path: Path) -> str:
    """A Huey queue on the PostgreSQL test database, emptied of tasks an earlier test left."""
    from tracereplay.jobs import make_huey

    huey = make_huey(Settings(home=tmp_path / "queue-home", queue_url=postgres_url))
    huey.flush()
    huey.storage.close()
    return postgres_url


def empty_postgres(context: AppContext) -> None:
    """The shared PostgreSQL test database, emptied (SQLite tests get a new file each)."""
    if context.engine.dialect.name == "postgresql":
        with context.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = AppContext.open(settings)
    empty_postgres(context)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def client(settings: Settings, ctx: AppContext) -> Iterator[TestClient]:
    """The ASGI app with its lifespan (writer thread), over in-process HTTP."""
    app = create_app(settings, ctx=ctx)
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    api_key: str
    home: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def start_server(
    home: Path, env_overrides: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> RunningServer:
    """`tracereplay serve` as a user runs it, in a subprocess, once it answers /api/v1/ready."""
    port = free_port()
    env = {
        **os.environ,
        "TRACEREPLAY_HOME": str(home),
        "TRACEREPLAY_PORT": str(port),
        "TRACEREPLAY_INIT_API_KEY": API_KEY,
        "TRACEREPLAY_LOG_LEVEL": "warning",
        **(env_overrides or {}),
    }
    with open(home.parent / f"server-{port}.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "tracereplay", "serve", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(home.parent / f'server-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return RunningServer(url, API_KEY, home, process, env)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not become ready in 30 s")


@contextmanager
def serving(settings: Settings, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """A real `tracereplay serve` subprocess on the parametrised database (emptied first),
    with helper processes whatever the CPU count, and `env` on top; stopped on exit."""
    overrides = {"TRACEREPLAY_INGEST_PROCESSES": "2", **(env or {})}
    if settings.database_url:
        overrides["TRACEREPLAY_DATABASE_URL"] = settings.database_url
        context = AppContext.open(settings)  # migrates, then empties
        empty_postgres(context)
        context.close()
    home = tmp_path / "server-home"
    home.mkdir(exist_ok=True)
    running = start_server(home, overrides)
    try:
        yield running
    finally:
        stop_server(running)


def stop_server(running: RunningServer) -> None:
    running.process.terminate()
    try:
        running.process.wait(10)
    except subprocess.TimeoutExpired:
        running.process.kill()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    """A real `tracereplay serve` subprocess on the parametrised database."""
    with serving(settings, tmp_path) as running:
        yield running
