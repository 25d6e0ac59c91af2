"""Everything a running server holds, built once from `Settings` and handed to each surface."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.config import Settings
from tracereplay.db.engine import make_engine, make_session_factory, migrate
from tracereplay.ingest.decoding import IngestPool
from tracereplay.ingest.writer import IngestWriter
from tracereplay.jobs import JobQueue, build_queue
from tracereplay.projects.service import KeyResolver
from tracereplay.providers.price_overrides import ProjectPrices
from tracereplay.providers.pricing import rules_from_config
from tracereplay.providers.registry import DeferredRegistry, ProviderRegistry
from tracereplay.replay.executor import ReplayDeps


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: IngestWriter
    ingest: IngestPool
    prices: ProjectPrices
    providers: ProviderRegistry
    keys: KeyResolver
    queue: JobQueue

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> AppContext:
        engine = make_engine(settings)
        if run_migrations:
            migrate(engine)
        sessions = make_session_factory(engine)
        writer = IngestWriter(engine, settings.ingest_batch_spans)
        prices = ProjectPrices(engine, rules_from_config(settings.prices))
        providers = DeferredRegistry(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            writer=writer,
            ingest=IngestPool(settings, engine, writer, prices),
            prices=prices,
            providers=providers,
            keys=KeyResolver(sessions),
            queue=build_queue(settings, sessions, ReplayDeps(engine, sessions, providers, prices)),
        )

    def close(self) -> None:
        self.ingest.close()
        self.writer.stop()
        self.queue.close()
        self.engine.dispose()
