"""The ingestion writer: the thread that group-commits what concurrent producers submit.

A producer (through `ingest.service`, never directly) hands its span records to `submit` and
waits on the returned future; the writer drains everything queued meanwhile into one
transaction and resolves every future only after COMMIT. So a request is acknowledged only
once its spans are durable, and many small requests cost one commit. One writer also suits
SQLite, which allows one at a time: in a process, nothing else writes spans.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tracereplay.errors import ServiceUnavailable
from tracereplay.ingest.records import IncomingLog, SpanRecord
from tracereplay.ingest.store import PreparedSpans, prepare_spans, write_logs, write_spans

log = logging.getLogger(__name__)


@dataclass
class _Job:
    project_rowid: int
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[IncomingLog] = field(default_factory=list)
    future: Future[int] = field(default_factory=Future)
    # Spans prepared elsewhere, loaded in the writer thread (see `IngestWriter.submit`), and how many.
    load: Callable[[], PreparedSpans] | None = None
    count: int = 0
    prepared: PreparedSpans | None = None

    def __post_init__(self) -> None:
        self.size = len(self.spans) + len(self.logs) + self.count

    def materialize(self, dialect: str) -> None:
        """The job's spans as rows, made here in the writer thread."""
        if self.load is not None:
            self.prepared, self.load = self.load(), None
        elif self.spans:
            self.prepared, self.spans = prepare_spans(self.spans, dialect), []

    def take(self) -> bool:
        """Claim the job for writing; False when its submitter gave up waiting (a request whose
        client went away), whose records are then not written: it was never acknowledged."""
        return self.future.set_running_or_notify_cancel()


class IngestWriter:
    def __init__(self, engine: Engine, max_batch: int = 20_000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False
        # SQLite takes one writer at a time. PostgreSQL takes several: a second writer
        # prepares its transaction while the server works on the first one's.
        self._writers = 1 if engine.dialect.name == "sqlite" else 2

    def start(self) -> None:
        """Start the writer threads (the first `submit` does it otherwise)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._stopped:
            raise ServiceUnavailable("the server is shutting down; retry against a running server")
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._run, name=f"ingest-writer-{n}", daemon=True)
                for n in range(self._writers)
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Finish everything already submitted, then stop; later submissions are refused."""
        with self._lock:
            self._stopped = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()

    def backlog(self) -> int:
        """Requests queued and not yet taken by a writer thread."""
        return self._queue.qsize()

    def submit(
        self,
        project_rowid: int,
        *,
        spans: Sequence[SpanRecord] = (),
        logs: Sequence[IncomingLog] = (),
        load: Callable[[], PreparedSpans] | None = None,
        count: int = 0,
    ) -> Future[int]:
        """Queue records of one project; the future resolves to their count once committed.

        `load`, if given, produces `count` more spans, prepared, in the writer thread just before
        they are written (spans a helper process prepared are unpickled and priced there).
        """
        job = _Job(project_rowid, list(spans), list(logs), load=load, count=count)
        with self._lock:  # not after `stop` has queued its sentinels: the job would wait forever
            self._start()
            self._queue.put(job)
        return job.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first] if first.take() else []
            size = first.size
            stop = False
            while size < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if job.take():
                    jobs.append(job)
                    size += job.size
            jobs = [job for job in jobs if self._materialized(job, self._engine.dialect.name)]
            if jobs:
                self._write(jobs)
            if stop:
                return

    @staticmethod
    def _materialized(job: _Job, dialect: str) -> bool:
        try:
            job.materialize(dialect)
        except Exception as exc:  # its spans could not be loaded: that request fails, alone
            log.exception("could not load the spans of a request")
            job.future.set_exception(exc)
            return False
        return True

    def _write(self, jobs: list[_Job]) -> None:
        try:
            with self._engine.begin() as conn:
                for group in _by_project(jobs):
                    self._write_group(conn, group)
        except Exception:
            log.exception("group commit of %d requests failed; retrying them one by one", len(jobs))
            self._write_each(jobs)
            return
        for job in jobs:
            job.future.set_result(job.size)

    def _write_each(self, jobs: list[_Job]) -> None:
        # Isolate the request that broke the group so the others are still stored.
        for job in jobs:
            try:
                with self._engine.begin() as conn:
                    self._write_group(conn, [job])
            except Exception as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(job.size)

    @staticmethod
    def _write_group(conn: Any, jobs: list[_Job]) -> int:
        project_rowid = jobs[0].project_rowid
        # Logs first: spans in the same group then pick up their content in one pass.
        logs = [item for job in jobs for item in job.logs]
        spans = [job.prepared for job in jobs if job.prepared is not None]
        return write_logs(conn, project_rowid, logs) + write_spans(conn, project_rowid, spans)


def _by_project(jobs: list[_Job]) -> list[list[_Job]]:
    groups: dict[int, list[_Job]] = {}
    for job in jobs:
        groups.setdefault(job.project_rowid, []).append(job)
    return list(groups.values())
