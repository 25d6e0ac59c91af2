"""The one way in: every span, whoever produced it, is priced and written here.

OTLP requests (decoded in the server or in a helper process), the native JSON API,
`tracereplay import`, the demo and the replay executor all hand span records to `Ingestion`,
which prices their LLM spans with the project's price book and submits them to the one
group-committing writer of the process. Nothing else writes spans.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy import Engine

from tracereplay.ingest.helpers import DecodeHelpers
from tracereplay.ingest.otlp import Decoded, logs_from_request, parse_logs_request
from tracereplay.ingest.records import SpanRecord
from tracereplay.ingest.store import PreparedSpans
from tracereplay.ingest.writer import IngestWriter
from tracereplay.pricing.book import PriceBook
from tracereplay.pricing.overrides import ProjectPrices


def price_spans(spans: Sequence[SpanRecord], prices: PriceBook) -> None:
    """Each LLM span's cost from its provider, model and token counts, unless it has one."""
    for span in spans:
        if span.kind == "LLM" and span.cost is None:
            span.cost = prices.cost(span.provider, span.model, span.prompt_tokens, span.completion_tokens)


class Ingestion:
    """Prices and stores span records; its writer thread and helper processes start on first use."""

    def __init__(
        self, engine: Engine, prices: ProjectPrices, *, batch_spans: int, helper_processes: int | None
    ) -> None:
        self._prices = prices
        self._writer = IngestWriter(engine, batch_spans)
        self._helpers = DecodeHelpers(helper_processes, engine.dialect.name)

    def start(self) -> None:
        """Start the writer and the helper processes now rather than at the first request."""
        self._writer.start()
        self._helpers.start()

    def close(self) -> None:
        """Stop the helpers, then the writer once everything submitted is committed."""
        self._helpers.close()
        self._writer.stop()

    def backlog(self) -> int:
        """Requests waiting for the writer: background work (evaluation) yields while any do."""
        return self._writer.backlog()

    def store_spans(self, project_rowid: int, spans: Sequence[SpanRecord]) -> int:
        """Store spans and wait for the commit; returns how many were stored."""
        return self._submit(project_rowid, spans, self._prices.book(project_rowid)).result()

    async def store_spans_async(self, project_rowid: int, spans: Sequence[SpanRecord]) -> int:
        """`store_spans` for the event loop."""
        prices = await self._prices.book_async(project_rowid)
        return await asyncio.wrap_future(self._submit(project_rowid, spans, prices))

    async def store_otlp_traces(self, project_rowid: int, body: bytes, json_mode: bool) -> Decoded:
        """Decode and durably store an OTLP trace export request; the result says what was rejected."""
        decoded = await self._helpers.decode_traces(body, json_mode)
        if decoded.prepared is not None and decoded.prepared_count:
            prices = await self._prices.book_async(project_rowid)
            pickled = decoded.prepared

            def load() -> PreparedSpans:  # in the writer thread
                prepared: PreparedSpans = pickle.loads(pickled)
                prepared.price(prices.cost)
                return prepared

            job = self._writer.submit(project_rowid, load=load, count=decoded.prepared_count)
            await asyncio.wrap_future(job)
        elif decoded.spans:
            await self.store_spans_async(project_rowid, decoded.spans)
        return decoded

    async def store_otlp_logs(self, project_rowid: int, body: bytes, json_mode: bool) -> Decoded:
        """Store the span-bound log records of an OTLP logs request (joined onto their spans)."""
        decoded = logs_from_request(parse_logs_request(body, json=json_mode))
        if decoded.logs:
            await asyncio.wrap_future(self._writer.submit(project_rowid, logs=decoded.logs))
        return decoded

    def _submit(self, project_rowid: int, spans: Sequence[SpanRecord], prices: PriceBook) -> Future[int]:
        price_spans(spans, prices)
        return self._writer.submit(project_rowid, spans=spans)
