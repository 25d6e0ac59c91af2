"""Everything a running server or command holds, built once from `Settings` and handed to
each surface. What costs something to start (the writer thread, decoding helper processes,
the job queue, the provider SDKs) starts on first use, so a command that only reads starts
none of it; `close` (or leaving a `with` block) stops what was started.
"""

from __future__ import annotations

import threading
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.config import Settings
from tracereplay.db.engine import make_engine, make_session_factory, migrate
from tracereplay.errors import ServiceUnavailable
from tracereplay.ingest.service import Ingestion
from tracereplay.jobs import JobQueue, build_queue
from tracereplay.pricing.book import rules_from_config
from tracereplay.pricing.overrides import ProjectPrices
from tracereplay.projects import service as projects
from tracereplay.projects.service import Bootstrap, KeyResolver
from tracereplay.providers.registry import DeferredRegistry, Providers
from tracereplay.replay.executor import ReplayDeps


class AppContext:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.prices = ProjectPrices(engine, rules_from_config(settings.prices))
        self.providers: Providers = DeferredRegistry(settings)
        self.keys = KeyResolver(self.sessions)
        self.ingest = Ingestion(
            engine,
            self.prices,
            batch_spans=settings.ingest_batch_spans,
            helper_processes=settings.ingest_processes,
        )
        self._lock = threading.Lock()
        self._queue: JobQueue | None = None
        self._closed = False
        self._first_start: Bootstrap | None = None

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> AppContext:
        engine = make_engine(settings)
        if run_migrations:
            migrate(engine)
        return cls(settings, engine)

    def bootstrap(self) -> Bootstrap:
        """Create the first project and key if the database has none; runs once per context,
        later calls answer what the first one did."""
        with self._lock:
            if self._first_start is None:
                self._first_start = projects.bootstrap(self.sessions, self.settings)
            return self._first_start

    @property
    def queue(self) -> JobQueue:
        """The job queue, opened on first use."""
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the server is shutting down; retry against a running server")
            if self._queue is None:
                deps = ReplayDeps(self.sessions, self.providers, self.ingest)
                self._queue = build_queue(self.settings, self.sessions, deps)
            return self._queue

    def close(self) -> None:
        self.ingest.close()
        with self._lock:
            self._closed = True
            if self._queue is not None:
                self._queue.close()
                self._queue = None
        self.providers.close()
        self.engine.dispose()

    def __enter__(self) -> AppContext:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
