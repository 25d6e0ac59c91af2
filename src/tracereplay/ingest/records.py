"""The span record: one span as every producer builds it and the store writes it.

OTLP decoding, the native JSON API, `tracereplay import`, the demo, the replay executor (and
later judge traces) build `SpanRecord`s and hand them to `ingest.service`, which prices them
and passes them to the writer; only `ingest.store` turns them into rows. A stored span reads
back as the same type (`SpanRecord.from_stored`), so a replay copies a span by changing what
differs instead of naming every column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from tracereplay.jsontext import json_dumps


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
_JSON_FIELD_SET = frozenset(JSON_FIELDS)
_SENT_AS_JSON = "_json_text"


def _none() -> None:
    """The default of a JSON field: None, through a factory. A plain default would be a class
    attribute, found (as None) instead of a received record's text (see `__getattr__`)."""
    return None


@dataclass
class SpanRecord:
    """One span, with the fields conventions normalise and the cost it was priced at.

    Records cross from decoding helper processes to the server by pickle. They travel with
    their JSON documents as JSON text (`__getstate__`): rebuilding nested dicts and lists would
    cost the server more than decoding did, and the writer stores that text as it is
    (`json_text`). A received record decodes its JSON fields when one is first read, so every
    reader sees plain values; a field set before that wins over the text.
    """

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
    events: list[dict[str, Any]] | None = field(default_factory=_none)
    input: str | None = None
    output: str | None = None
    provider: str | None = None
    model: str | None = None
    invocation_parameters: dict[str, Any] | None = field(default_factory=_none)
    input_messages: list[dict[str, Any]] | None = field(default_factory=_none)
    output_messages: list[dict[str, Any]] | None = field(default_factory=_none)
    tools: list[dict[str, Any]] | None = field(default_factory=_none)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None  # US $; None until priced, and when the price is unknown
    prompt_template: dict[str, Any] | None = field(default_factory=_none)
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

    def json_text(self) -> tuple[str | None, ...] | None:
        """The JSON fields as the JSON text this record was received with, in `JSON_FIELDS`
        order, while none of them has been read or set; else None."""
        state = self.__dict__
        text: tuple[str | None, ...] | None = state.get(_SENT_AS_JSON)
        if text is not None and not _JSON_FIELD_SET.isdisjoint(state):
            self._decode()  # one was set: the text no longer says it all
            return None
        return text

    def _decode(self) -> None:
        state = self.__dict__
        for name, value in zip(JSON_FIELDS, state.pop(_SENT_AS_JSON), strict=True):
            if name not in state:
                state[name] = None if value is None else orjson.loads(value)

    def __getstate__(self) -> dict[str, Any]:
        text = self.json_text()
        if text is None:
            text = tuple(
                None if (value := getattr(self, name)) is None else json_dumps(value) for name in JSON_FIELDS
            )
        state = {key: value for key, value in self.__dict__.items() if key not in JSON_FIELDS}
        state[_SENT_AS_JSON] = text
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute name

        def __getattr__(self, name: str) -> Any:
            # Called only for a missing attribute: a JSON field of a record received as text.
            if name not in JSON_FIELDS or _SENT_AS_JSON not in self.__dict__:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            self._decode()
            return self.__dict__[name]


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
