"""Decoding off the event loop: large OTLP bodies are decoded by helper processes.

Decoding and convention mapping are pure Python and hold the GIL; in the server process they
would compete with HTTP handling for one core. A helper process turns a request body into
span records, and those into rows ready to store (`ingest.store.prepare_spans`), and sends
them back, pickled, to the writer thread; pricing and writing stay with the server's one
writer (`ingest.service`). Small bodies are decoded in the server, where
a round trip to another process would cost more than it saves. Helpers hold no database
connection, no settings and no prices: they only decode.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tracereplay.errors import ServiceUnavailable
from tracereplay.ingest.otlp import Decoded, parse_trace_request, spans_from_request
from tracereplay.ingest.store import prepare_spans

INLINE_BELOW_BYTES = 16 * 1024


def tune_gc() -> None:
    """Decoding allocates many short-lived objects; with default thresholds the collector keeps
    rescanning the long-lived heap (modules, SQLAlchemy metadata). Freeze that heap."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def default_processes() -> int:
    cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 4)


def decode_traces(body: bytes, json_mode: bool) -> Decoded:
    return spans_from_request(parse_trace_request(body, json=json_mode))


def _decode_for_writer(body: bytes, json_mode: bool, dialect: str) -> Decoded:
    """In a helper: the request decoded and its spans prepared as rows for `dialect`, pickled
    here. The server's writer thread unpickles them (flat rows load fast) and prices them, and
    the server's other threads (HTTP, the pool's result thread) only pass bytes along: in one
    process, the less work that needs the GIL, the faster."""
    decoded = decode_traces(body, json_mode)
    prepared = prepare_spans(decoded.spans, dialect)
    decoded.prepared = pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)
    decoded.prepared_count, decoded.spans = len(prepared), []
    return decoded


def _start_helper() -> None:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    tune_gc()


def _exit_with_parent(parent: int) -> None:
    # A server killed with SIGKILL cannot stop its helpers; they notice and leave by themselves.
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


class DecodeHelpers:
    """Decodes OTLP trace requests through `processes` helper processes (0: all in the server)."""

    def __init__(self, processes: int | None, dialect: str) -> None:
        self._processes = default_processes() if processes is None else processes
        self._dialect = dialect  # the database the helpers prepare rows for
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the helper processes now (in the background), not at the first large request."""
        pool = self._pool()
        if pool is not None:
            for _ in range(self._processes):
                pool.submit(gc.collect)

    def _pool(self) -> ProcessPoolExecutor | None:
        if self._processes <= 0:
            return None
        if self._executor is None:
            # spawn, not fork: the server has threads (writer, job consumer) a fork would copy.
            self._executor = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_helper
            )
        return self._executor

    async def decode_traces(self, body: bytes, json_mode: bool) -> Decoded:
        pool = self._pool() if len(body) >= INLINE_BELOW_BYTES else None
        if pool is None:
            return decode_traces(body, json_mode)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, _decode_for_writer, body, json_mode, self._dialect
            )
        except BrokenProcessPool as exc:
            # A helper died (killed, out of memory): start fresh ones for the next request.
            self.close()
            raise ServiceUnavailable("an ingestion helper process stopped; retry the request") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
