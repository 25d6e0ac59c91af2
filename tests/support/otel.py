"""Capture what instrumentation libraries emit, in the shapes the ingest mappers receive.

`capture(instrumentor)` wires an in-memory tracer and logger provider, instruments, and always
uninstruments on exit (instrumentors patch the SDK globally). `Captured.spans()` turns each
finished span into `(span, attributes, events)`: attributes as a flat dict with sequences as
lists, events as span events followed by the log records emitted inside that span, each as
``{"name", "time", "attributes", "body"}`` — what OTLP decoding hands to `normalise()`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import wrapt
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def plain(value: Any) -> Any:
    """OTel attribute values as JSON-like Python: tuples become lists, mappings dicts."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def span_attributes(span: ReadableSpan) -> dict[str, Any]:
    return {k: plain(v) for k, v in (span.attributes or {}).items()}


def span_events(span: ReadableSpan) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "time": _iso(e.timestamp), "attributes": plain(dict(e.attributes or {})),
         "body": None}
        for e in span.events
    ]  # fmt: skip


def log_event(record: ReadableLogRecord) -> dict[str, Any]:
    """A log record as an event; its name is `event_name`, or the `event.name` attribute."""
    log = record.log_record
    attributes = plain(dict(log.attributes or {}))
    name = log.event_name or attributes.get("event.name") or ""
    return {"name": name, "time": _iso(log.timestamp or log.observed_timestamp),
            "attributes": attributes, "body": plain(log.body)}  # fmt: skip


@dataclass
class Captured:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    span_exporter: InMemorySpanExporter
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[tuple[ReadableSpan, dict[str, Any], list[dict[str, Any]]]]:
        """Finished spans, oldest first, with their events and joined log records."""
        logs: dict[int, list[dict[str, Any]]] = {}
        for record in self.log_exporter.get_finished_logs():
            if record.log_record.span_id:
                logs.setdefault(record.log_record.span_id, []).append(log_event(record))
        result = []
        for span in self.span_exporter.get_finished_spans():
            span_id = span.context.span_id if span.context else 0
            events = span_events(span) + logs.get(span_id, [])
            result.append((span, span_attributes(span), events))
        return result

    def clear(self) -> None:
        self.span_exporter.clear()
        self.log_exporter.clear()


def exporting(
    url: str, headers: Mapping[str, str], resource: Mapping[str, Any] | None = None
) -> TracerProvider:
    """A tracer provider sending spans over OTLP/HTTP to the server at `url`, as an app's does;
    `shutdown()` flushes it (everything is acknowledged when it returns)."""
    tracer_provider = TracerProvider(resource=Resource.create(dict(resource or {})))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=dict(headers))
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    return tracer_provider


def unwrap_leftovers(package: str = "openai") -> None:
    """Remove wrappers an instrumentor left on `package` after uninstrument().

    The package itself uses no wrapt proxies, so any left is a leftover. OpenLLMetry 0.62's
    uninstrument() passes `unwrap()` a module path and a dotted attribute it cannot resolve,
    leaving `Completions.create` wrapped, which would leak into every later test.
    """
    prefix, types = package + ".", package + ".types"  # data models only: skipped for speed
    for name, module in sys.modules.copy().items():  # another thread may be importing
        if (name != package and not name.startswith(prefix)) or name.startswith(types):
            continue
        # type(v), not isinstance(): openai's lazy module proxies import on any attribute access.
        classes = (v for v in vars(module).values() if issubclass(type(v), type) and v.__module__ == name)
        for owner in [module, *classes]:
            for attribute, value in list(vars(owner).items()):
                if issubclass(type(value), wrapt.ObjectProxy):
                    while issubclass(type(value), wrapt.ObjectProxy):
                        value = value.__wrapped__
                    setattr(owner, attribute, value)


@contextmanager
def capture(instrumentor: Any = None, **instrument_kwargs: Any) -> Iterator[Captured]:
    """Instrument with in-memory exporters; uninstrument and shut providers down on exit.

    With no instrumentor, spans made through `Captured.tracer_provider` are captured.
    """
    span_exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    if instrumentor is not None:
        instrumentor.instrument(
            tracer_provider=tracer_provider, logger_provider=logger_provider, **instrument_kwargs
        )
    try:
        yield Captured(tracer_provider, logger_provider, span_exporter, log_exporter)
    finally:
        if instrumentor is not None:
            instrumentor.uninstrument()
            unwrap_leftovers()
        tracer_provider.shutdown()
        logger_provider.shutdown()
