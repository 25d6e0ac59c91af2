"""The span record: one span as every producer builds it and the store writes it.

OTLP decoding, the native JSON API, `tracereplay import`, the demo, the replay executor (and
later judge traces) build `SpanRecord`s and hand them to `ingest.service`, which prices them
and passes them to the writer; only `ingest.store` turns them into rows (`prepare_spans`, in
the writer thread or in the decoding helper that built them). A stored span reads
back as the same type (`SpanRecord.from_stored`), so a replay copies a span by changing what
differs instead of naming every column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class TraceHints:
    """What a span says of its trace; the store rolls these up onto the trace row."""

    session_id: str | None = None
    user_id: str | None = None
    environment: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    # A replayed trace: the trace it replays and the replay that wrote it.
    source_trace_id: str | None = None
    replay_id: str | None = None


# The fields holding JSON documents (stored in JSON columns).
JSON_FIELDS = (
    "attributes", "events", "invocation_parameters", "input_messages", "output_messages", "tools",
    "prompt_template",
)  # fmt: skip


@dataclass
class SpanRecord:
    """One span, with the fields conventions normalise and the cost it was priced at."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time: datetime
    end_time: datetime
    kind: str = "UNKNOWN"
    status_code: str = "UNSET"
    status_message: str | None = None
    service_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] | None = None
    input: str | None = None
    output: str | None = None
    provider: str | None = None
    model: str | None = None
    invocation_parameters: dict[str, Any] | None = None
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None  # US $; None until priced, and when the price is unknown
    prompt_template: dict[str, Any] | None = None
    same_call_as: str | None = None  # the span that records the same LLM call, and counts it
    recorded_by: str | None = None  # an LLM span's "<detail>:<source>" (conventions.libraries)
    trace: TraceHints | None = None  # only producers set it; stored spans read back without

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time).total_seconds() * 1000.0

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None

    @classmethod
    def from_stored(cls, stored: Any, trace_id: str) -> SpanRecord:
        """The record of a stored span (an ORM row or anything with the same attributes)."""
        return cls(trace_id, **{name: getattr(stored, name) for name in STORED_FIELDS})


# Every field a stored span has a column for (the trace id is the trace's, hints are rolled up).
STORED_FIELDS = tuple(f.name for f in dataclasses.fields(SpanRecord) if f.name not in ("trace_id", "trace"))


@dataclass
class IncomingLog:
    """An OTLP log record tied to a span (GenAI message events), joined onto it when stored."""

    trace_id: str
    span_id: str
    record_hash: str
    event_name: str | None
    time: datetime | None
    body: Any
    attributes: dict[str, Any]
