"""The job queue (Huey) and its tasks.

Embedded: a SQLite-backed queue in `$TRACEREPLAY_HOME`, consumed by threads inside
`tracereplay serve`. Distributed: `TRACEREPLAY_QUEUE_URL=redis://…` or `postgresql://…`,
consumed by `tracereplay worker` processes. Tasks carry ids only; the database is the system of record.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.config import Settings
from tracereplay.errors import StartupError
from tracereplay.evals.pipeline import EvalServices, evaluate_replay, unevaluated_replays
from tracereplay.evals.traffic import evaluate_traces, evaluate_traffic
from tracereplay.replay.executor import ReplayDeps, run_replay
from tracereplay.replay.sweeper import sweep_replays
from tracereplay.traces.retention import purge_expired_traces

log = logging.getLogger(__name__)


def make_huey(settings: Settings) -> Huey:
    url = settings.queue_url
    if not url or url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///") if url else str(settings.home / "queue.db")
        settings.home.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("tracereplay", filename=path, utc=True)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("tracereplay", url=url, utc=True, blocking=True, read_timeout=1)
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from tracereplay.queue_postgres import postgres_huey

        return postgres_huey("tracereplay", url)
    raise StartupError(
        f"unsupported TRACEREPLAY_QUEUE_URL {url!r}: use redis://host:6379/0, "
        "postgresql://user@host/db or sqlite:////path/queue.db, or leave it unset for the embedded "
        "SQLite queue"
    )


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer running inside the server: the server, not Huey, owns the process signals."""

    def _set_signal_handlers(self) -> None:
        pass


@dataclass
class JobQueue:
    huey: Huey
    settings: Settings
    run_replay: Any  # the Huey task; calling it enqueues
    evaluate_traces: Any
    evaluate_replay: Any

    def enqueue_replay(self, replay_id: str) -> None:
        self.run_replay(replay_id)

    def enqueue_evaluation(self, project_rowid: int, trace_ids: list[str], evaluators: list[str]) -> None:
        self.evaluate_traces(project_rowid, trace_ids, evaluators)

    def enqueue_replay_evaluation(self, replay_id: str) -> None:
        self.evaluate_replay(replay_id)

    def close(self) -> None:
        """Release the queue's connections (the consumer, if any, has stopped)."""
        self.huey.storage.close()

    def consumer(self, workers: int | None = None, *, embedded: bool = False) -> Consumer:
        """A consumer whose threads run tasks; polls often so queued jobs start quickly."""
        consumer_class = EmbeddedConsumer if embedded else Consumer
        return consumer_class(
            self.huey,
            workers=workers or self.settings.worker_concurrency,
            worker_type="thread",
            periodic=True,
            initial_delay=0.05,
            backoff=1.15,
            max_delay=0.1,  # a queued replay starts within ~0.1 s of a slot freeing (SQLite polls)
            check_worker_health=False,
        )


def build_queue(settings: Settings, sessions: sessionmaker[Session], replays: ReplayDeps) -> JobQueue:
    huey = make_huey(settings)
    services = EvalServices(replays.providers, replays.ingest)
    # One evaluation job at a time per process, so a server's ingestion keeps most of the
    # interpreter. A job that finds another running does not wait (it would hold a job thread
    # replays need): it is scheduled again a little later, or skipped for a periodic run.
    evaluating = threading.Lock()
    retry_after = 2.0

    # Every ten minutes is frequent enough for a day-granular window.
    @huey.periodic_task(crontab(minute="*/10"), name="purge_expired_traces")  # type: ignore[untyped-decorator]
    def purge() -> Any:
        return purge_expired_traces(sessions, settings.retention_days)

    @huey.task(name="evaluate_replay")  # type: ignore[untyped-decorator]
    def evaluate(replay_id: str) -> int:
        if not evaluating.acquire(blocking=False):
            evaluate.schedule((replay_id,), delay=retry_after)
            return 0
        try:
            return evaluate_replay(sessions, replay_id, services)
        finally:
            evaluating.release()

    @huey.task(name="run_replay")  # type: ignore[untyped-decorator]
    def replay(replay_id: str) -> None:
        run_replay(replays, replay_id)
        evaluate(replay_id)  # a replay that did not complete is not evaluated: the job returns

    @huey.periodic_task(crontab(minute="*"), name="evaluate_traffic")  # type: ignore[untyped-decorator]
    def traffic() -> int:
        if not evaluating.acquire(blocking=False):
            return 0  # the next run, a minute later, goes on from the watermarks
        try:
            return evaluate_traffic(sessions, timedelta(seconds=settings.evaluation_quiet_seconds), services)
        finally:
            evaluating.release()

    @huey.task(name="evaluate_traces")  # type: ignore[untyped-decorator]
    def on_demand(project_rowid: int, trace_ids: list[str], evaluators: list[str]) -> int:
        if not evaluating.acquire(blocking=False):
            on_demand.schedule((project_rowid, trace_ids, evaluators), delay=retry_after)
            return 0
        try:
            return evaluate_traces(
                sessions, project_rowid, trace_ids, evaluators, services, retry_errors=True, strict=False
            )
        finally:
            evaluating.release()

    @huey.periodic_task(crontab(minute="*"), name="sweep_replays")  # type: ignore[untyped-decorator]
    def sweep() -> Any:
        for replay_id in unevaluated_replays(sessions, timedelta(minutes=2)):
            evaluate(replay_id)
        return sweep_replays(sessions, replay)

    return JobQueue(huey, settings, replay, on_demand, evaluate)
