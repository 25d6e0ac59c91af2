"""Ingestion off the event loop: large OTLP bodies are decoded and stored by helper processes.

Decoding and convention mapping are pure Python and hold the GIL; in the server process they
would compete with HTTP handling for one core. Each helper process decodes a request and
writes it in its own transaction, answering only after COMMIT, so acknowledgement still
means durable. On SQLite the helpers and the server's writer thread take turns through one
cross-process lock (SQLite allows a single writer; the lock avoids its sleep-and-retry
busy handler). On PostgreSQL they write concurrently. Small bodies are decoded in the
server and group-committed by its writer thread, where a round trip to another process
would cost more than it saves. Helpers ask the server for bundled model prices (`PriceRelay`)
rather than each loading genai-prices' data.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener, answer_challenge, deliver_challenge
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

if TYPE_CHECKING:
    from tracereplay.config import Settings
from tracereplay.errors import ServiceUnavailable
from tracereplay.ingest.otlp import (
    Decoded,
    logs_from_request,
    parse_logs_request,
    parse_trace_request,
    spans_from_request,
)
from tracereplay.ingest.store import prepare_spans, write_spans
from tracereplay.ingest.writer import IngestWriter
from tracereplay.providers.price_overrides import ProjectPrices
from tracereplay.providers.pricing import (
    Price,
    PriceBook,
    bundled_price,
    genai_prices_price,
    rules_from_config,
    use_bundled_prices_from,
)

log = logging.getLogger(__name__)

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


def decode_traces(body: bytes, json_mode: bool, dialect: str, prices: PriceBook | None) -> Decoded:
    decoded = spans_from_request(parse_trace_request(body, json=json_mode), prices)
    prepare_spans(decoded.spans, dialect)
    return decoded


def decode_logs(body: bytes, json_mode: bool) -> Decoded:
    return logs_from_request(parse_logs_request(body, json=json_mode))


class PriceRelay:
    """Answers helper processes' bundled-price lookups from the server's own data, over a
    local socket only they hold the key to."""

    def __init__(self) -> None:
        self.authkey = os.urandom(32)
        # The socket lives in a directory only this user can enter (multiprocessing's own). The
        # key handshake happens in each connection's thread, so a peer that stalls in it holds
        # up only that thread; nothing is unpickled before it succeeds.
        self._listener = Listener(family="AF_UNIX")
        self.address = self._listener.address
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="price-relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection = self._listener.accept()
            except Exception as exc:  # a peer that hung up at once: keep serving
                if self._closed:
                    return
                log.warning("price relay could not accept a connection: %s", exc)
                continue
            if self._closed:  # the wake-up call from close()
                connection.close()
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            try:
                deliver_challenge(connection, self.authkey)
                answer_challenge(connection, self.authkey)
            except Exception as exc:  # no key, or hung up
                log.warning("price relay refused a connection: %s", exc)
                return
            while True:
                try:
                    provider, model = connection.recv()
                except (EOFError, OSError):  # the helper exited
                    return
                try:
                    price = bundled_price(provider, model)
                except Exception:  # the helper must get an answer, or it would wait forever
                    log.exception("price lookup for %s:%s failed", provider, model)
                    price = None
                connection.send(price)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Closing the socket does not wake a thread blocked in accept(); a call does.
        with suppress(Exception):
            Client(self.address, authkey=self.authkey).close()
        self._listener.close()
        self._thread.join(timeout=5)


RELAY_TIMEOUT_SECONDS = 30.0


def _ask_server(address: Any, authkey: bytes) -> Callable[[str | None, str], Price | None]:
    """Bundled prices from the server's relay; should the relay fail, from genai-prices here
    (correct prices at the cost of the memory the relay saves)."""
    lock = threading.Lock()
    relay: list[Connection] = []
    try:
        relay.append(Client(address, authkey=authkey))
    except Exception as exc:
        log.warning("price relay unreachable (%s); loading genai-prices in this helper", exc)

    def lookup(provider: str | None, model: str) -> Price | None:
        with lock:
            if relay:
                connection = relay[0]
                try:
                    connection.send((provider, model))
                    if connection.poll(RELAY_TIMEOUT_SECONDS):
                        answer: Price | None = connection.recv()
                        return answer
                    raise TimeoutError(f"no answer in {RELAY_TIMEOUT_SECONDS:g} s")
                except Exception as exc:
                    log.warning("price relay failed (%s); loading genai-prices in this helper", exc)
                    relay.clear()
                    connection.close()
        return genai_prices_price(provider, model)

    return lookup


# --- inside a helper process -----------------------------------------------------------------

_engine: Engine | None = None
_write_lock: Any = None
_prices: ProjectPrices | None = None


@dataclass(frozen=True)
class HelperConfig:
    """What a helper needs of the settings: plain values, so that it does not import pydantic."""

    database_url: str
    home: str
    sqlite_synchronous: str
    prices: dict[str, dict[str, float]]
    price_relay: tuple[Any, bytes]  # the server's PriceRelay: address and key


def _start_helper(config: HelperConfig, write_lock: Any) -> None:
    global _engine, _write_lock, _prices
    from tracereplay.db.engine import engine_for

    use_bundled_prices_from(_ask_server(*config.price_relay))
    _engine = engine_for(config.database_url, Path(config.home), config.sqlite_synchronous)
    _prices = ProjectPrices(_engine, rules_from_config(config.prices))
    _write_lock = write_lock
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    tune_gc()


def _exit_with_parent(parent: int) -> None:
    # A server killed with SIGKILL cannot stop its helpers; they notice and leave by themselves.
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _store_traces(project_rowid: int, body: bytes, json_mode: bool) -> Decoded:
    """Decode and commit one request; returns only what the response needs."""
    assert _engine is not None and _prices is not None
    decoded = decode_traces(body, json_mode, _engine.dialect.name, _prices.book(project_rowid))
    if decoded.spans:
        with _write_lock or nullcontext(), _engine.begin() as conn:
            write_spans(conn, project_rowid, decoded.spans)
    return Decoded(rejected=decoded.rejected, problems=decoded.problems)


# --- in the server ---------------------------------------------------------------------------


class IngestPool:
    """Stores OTLP requests through `processes` helper processes (0: all in the server)."""

    def __init__(
        self, settings: Settings, engine: Engine, writer: IngestWriter, prices: ProjectPrices
    ) -> None:
        self._settings = settings
        self._prices = prices
        self._dialect = engine.dialect.name
        self._writer = writer
        configured = settings.ingest_processes
        self._processes = default_processes() if configured is None else configured
        self._executor: ProcessPoolExecutor | None = None
        self._relay: PriceRelay | None = None

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
            if self._dialect == "sqlite":
                # One writer at a time, across the helpers and the server's writer thread.
                self._writer.write_lock = multiprocessing.get_context("spawn").Lock()
            self._relay = PriceRelay()
            # spawn, not fork: the server has threads (writer, job consumer) a fork would copy.
            self._executor = ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_helper,
                initargs=(
                    HelperConfig(
                        self._settings.resolved_database_url,
                        str(self._settings.home),
                        self._settings.sqlite_synchronous,
                        self._settings.prices,
                        (self._relay.address, self._relay.authkey),
                    ),
                    self._writer.write_lock,
                ),
            )
        return self._executor

    async def store_traces(self, project_rowid: int, body: bytes, json_mode: bool) -> Decoded:
        """Decode and durably store a trace export request; the result carries rejections only."""
        pool = self._pool() if len(body) >= INLINE_BELOW_BYTES else None
        if pool is None:
            prices = await self._prices.book_async(project_rowid)
            decoded = decode_traces(body, json_mode, self._dialect, prices)
            if decoded.spans:
                await asyncio.wrap_future(self._writer.submit_spans(project_rowid, decoded.spans))
            return decoded
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _store_traces, project_rowid, body, json_mode)
        except BrokenProcessPool as exc:
            # A helper died (killed, out of memory): start fresh ones for the next request.
            self.close()
            raise ServiceUnavailable("an ingestion helper process stopped; retry the request") from exc

    async def store_logs(self, project_rowid: int, body: bytes, json_mode: bool) -> Decoded:
        decoded = decode_logs(body, json_mode)
        if decoded.logs:
            await asyncio.wrap_future(self._writer.submit_logs(project_rowid, decoded.logs))
        return decoded

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._writer.write_lock = None  # released now, not left to the interpreter's exit
        if self._relay is not None:
            self._relay.close()
            self._relay = None
