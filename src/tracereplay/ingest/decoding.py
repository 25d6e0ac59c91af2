"""Decoding off the event loop: OTLP bodies become spans in helper processes.

Decoding and convention mapping are pure Python and hold the GIL; in the server process they
would compete with HTTP handling and the writer for one core. A small pool of processes
decodes large bodies in parallel and sends back ready-to-store spans; small bodies are
decoded inline, where a round trip to another process would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from tracereplay.ingest.otlp import (
    Decoded,
    logs_from_request,
    parse_logs_request,
    parse_trace_request,
    spans_from_request,
)
from tracereplay.ingest.store import prepare_spans

INLINE_BELOW_BYTES = 16 * 1024


def decode_traces(body: bytes, json_mode: bool, dialect: str) -> Decoded:
    decoded = spans_from_request(parse_trace_request(body, json=json_mode))
    prepare_spans(decoded.spans, dialect)
    return decoded


def decode_logs(body: bytes, json_mode: bool, dialect: str) -> Decoded:
    return logs_from_request(parse_logs_request(body, json=json_mode))


def _warm_up() -> None:
    # Import the conventions and the schema in each helper once, not on its first request.
    import tracereplay.ingest.store  # noqa: F401


def default_processes() -> int:
    cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 4)


class Decoder:
    """Decodes OTLP bodies, in `processes` helper processes (0: in the calling process)."""

    def __init__(self, processes: int, dialect: str) -> None:
        self._processes = processes
        self._dialect = dialect
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor | None:
        if self._processes <= 0:
            return None
        if self._executor is None:
            # spawn, not fork: the server has threads (writer, job consumer) a fork would copy.
            self._executor = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up
            )
        return self._executor

    async def traces(self, body: bytes, json_mode: bool) -> Decoded:
        return await self._run(decode_traces, body, json_mode)

    async def logs(self, body: bytes, json_mode: bool) -> Decoded:
        return await self._run(decode_logs, body, json_mode)

    async def _run(
        self, function: Callable[[bytes, bool, str], Decoded], body: bytes, json_mode: bool
    ) -> Decoded:
        pool = self._pool() if len(body) >= INLINE_BELOW_BYTES else None
        if pool is None:
            return function(body, json_mode, self._dialect)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, function, body, json_mode, self._dialect)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
