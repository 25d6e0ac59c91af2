"""OTLP decoding: protobuf or JSON export requests -> span records and log records.

This is the ingestion hot path: attribute conversion is a plain loop over the protobuf
values, and the conventions are read here, in a decoding helper process for large requests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracereplay.errors import InvalidInput
from tracereplay.ingest.conventions import NormalisedFields, normalise
from tracereplay.ingest.conventions.libraries import SCOPE_NAME, SCOPE_VERSION, recorded_by
from tracereplay.ingest.conventions.reproduce import without_reproduced
from tracereplay.ingest.records import IncomingLog, SpanRecord, TraceHints

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUS_CODES = ("UNSET", "OK", "ERROR")

TRACE_HINTS = ("session_id", "user_id", "tags", "metadata")  # normalised fields about the trace
# Record fields filled from the normalised fields (all but the trace-level hints).
NORMALISED_FIELDS = (
    "kind", "provider", "model", "invocation_parameters", "input_messages", "output_messages",
    "tools", "prompt_tokens", "completion_tokens", "total_tokens", "prompt_template", "input",
    "output",
)  # fmt: skip


@dataclass
class Decoded:
    """What one export request holds: its spans and log records, and what was rejected."""

    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[IncomingLog] = field(default_factory=list)
    # From a decoding helper process: the spans prepared for the writer and pickled, for the
    # writer thread to load (`spans` is then empty), and how many they are.
    prepared: bytes | None = None
    prepared_count: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, problem: str) -> None:
        self.rejected += 1
        if len(self.problems) < 5:
            self.problems.append(problem)

    @property
    def error_message(self) -> str:
        return "; ".join(self.problems)


def from_unix_nano(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value // 1000)


def _array(value: Any) -> list[Any]:
    return [any_value(item) for item in value.array_value.values]


def _kvlist(value: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}


_GETTERS: dict[str | None, Callable[[Any], Any]] = {
    "string_value": lambda v: v.string_value,
    "int_value": lambda v: v.int_value,
    "double_value": lambda v: v.double_value,
    "bool_value": lambda v: v.bool_value,
    "array_value": _array,
    "kvlist_value": _kvlist,
    "bytes_value": lambda v: base64.b64encode(v.bytes_value).decode(),
    None: lambda v: None,
}


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    return _GETTERS[value.WhichOneof("value")](value)


def attributes_dict(key_values: Iterable[Any]) -> dict[str, Any]:
    # The hot loop of ingestion: strings and ints first, no per-value function call for them.
    result: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            result[kv.key] = value.string_value
        elif kind == "int_value":
            result[kv.key] = value.int_value
        else:
            result[kv.key] = _GETTERS[kind](value)
    return result


def _events(span: Any) -> list[dict[str, Any]] | None:
    if not span.events:
        return None
    return [
        {
            "name": event.name,
            "time": from_unix_nano(event.time_unix_nano).isoformat(),
            "attributes": attributes_dict(event.attributes),
        }
        for event in span.events
    ]


def _span_problem(span: Any) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r}: traceId must be 16 non-zero bytes (32 hex characters)"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r}: spanId must be 8 non-zero bytes (16 hex characters)"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r}: parentSpanId must be 8 bytes (16 hex characters)"
    if span.start_time_unix_nano == 0:
        return f"span {span.name!r}: startTimeUnixNano is missing"
    return None


def normalised_values(fields: NormalisedFields) -> dict[str, Any]:
    """The record fields that come from the conventions' reading of a span."""
    values: dict[str, Any] = {name: fields.get(name) for name in NORMALISED_FIELDS}
    # An LLM span's input.value/output.value restate its messages (often the whole request
    # JSON); the messages are the readable form, and the raw attributes keep the original.
    if values["input_messages"] is not None:
        values["input"] = None
    if values["output_messages"] is not None:
        values["output"] = None
    return values


def build_span(
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    start: datetime,
    end: datetime,
    status_code: str,
    status_message: str | None,
    attributes: dict[str, Any],
    events: list[dict[str, Any]] | None,
    resource: dict[str, Any],
    scope: tuple[str, str] | None = None,
) -> SpanRecord:
    """The record of a span, whatever format it arrived in, read through the conventions. An
    LLM span keeps the instrumentation `scope` (name, version) that recorded it."""
    fields = normalise(attributes, events or ())
    recorded = None
    if fields.get("kind") == "LLM":
        if scope is not None and scope[0] and SCOPE_NAME not in attributes:
            attributes[SCOPE_NAME] = scope[0]
            if scope[1]:
                attributes[SCOPE_VERSION] = scope[1]
        recorded = recorded_by(attributes, fields)
    environment = resource.get("deployment.environment.name") or resource.get("deployment.environment")
    metadata = fields.get("metadata")
    hints = None  # most spans say nothing of their trace: no object to build, send and read
    if environment is not None or any(key in fields for key in TRACE_HINTS):
        hints = TraceHints(
            session_id=_text(fields.get("session_id")),
            user_id=_text(fields.get("user_id")),
            environment=_text(environment),
            tags=[str(tag) for tag in fields.get("tags") or ()],
            metadata=metadata if isinstance(metadata, dict) else None,
        )
    return SpanRecord(
        trace_id,
        span_id,
        parent_span_id,
        name,
        start,
        end,
        status_code=status_code,
        status_message=status_message,
        service_name=_text(resource.get("service.name")),
        attributes=without_reproduced(attributes, fields),
        events=events,
        trace=hints,
        recorded_by=recorded,
        **normalised_values(fields),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def spans_from_request(request: Any) -> Decoded:
    """Every span of an ExportTraceServiceRequest; malformed spans are counted as rejected."""
    decoded = Decoded()
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = (scope_spans.scope.name, scope_spans.scope.version)
            for span in scope_spans.spans:
                problem = _span_problem(span)
                if problem is not None:
                    decoded.reject(problem)
                    continue
                start = from_unix_nano(span.start_time_unix_nano)
                # An unfinished span (no end time) is stored as instantaneous.
                end = from_unix_nano(span.end_time_unix_nano) if span.end_time_unix_nano else start
                decoded.spans.append(
                    build_span(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex() if span.parent_span_id else None,
                        span.name,
                        start,
                        max(start, end),
                        STATUS_CODES[span.status.code] if span.status.code < 3 else "UNSET",
                        span.status.message or None,
                        attributes_dict(span.attributes),
                        _events(span),
                        resource,
                        scope,
                    )
                )
    return decoded


def logs_from_request(request: Any) -> Decoded:
    """Log records tied to a span; records with no span context are rejected (we store spans)."""
    decoded = Decoded()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if len(record.trace_id) != 16 or len(record.span_id) != 8:
                    decoded.reject(
                        "log record without traceId/spanId: tracereplay keeps only log records "
                        "that belong to a span (such as GenAI message events)"
                    )
                    continue
                attributes = attributes_dict(record.attributes)
                body = any_value(record.body) if record.HasField("body") else None
                event_name = record.event_name or attributes.get("event.name")
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                digest = hashlib.sha1(record.SerializeToString(deterministic=True)).hexdigest()
                decoded.logs.append(
                    IncomingLog(
                        record.trace_id.hex(),
                        record.span_id.hex(),
                        digest,
                        str(event_name) if event_name else None,
                        from_unix_nano(time_ns) if time_ns else None,
                        body,
                        attributes,
                    )
                )
    return decoded


# --- wire formats -------------------------------------------------------------------------

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _hex_ids_to_base64(node: Any, path: str) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON parser expects base64 for bytes fields."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise InvalidInput(
                        f"{path}.{key} is not hex: OTLP/JSON ids are hex strings "
                        f"(32 characters for traceId, 16 for spanId), got {value[:40]!r}"
                    ) from None
            else:
                _hex_ids_to_base64(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _hex_ids_to_base64(item, f"{path}[{index}]")


def _parse_json(body: bytes | dict[str, Any], message: Any, what: str) -> Any:
    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput(f"an OTLP/JSON {what} request must be a JSON object")
    _hex_ids_to_base64(body, "$")
    try:
        return json_format.ParseDict(body, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise InvalidInput(f"not a valid OTLP/JSON {what} request: {exc}") from exc


def _parse_protobuf(body: bytes, message: Any, what: str) -> Any:
    try:
        message.ParseFromString(body)
    except (DecodeError, binascii.Error, ValueError) as exc:
        raise InvalidInput(
            f"body is not a valid OTLP protobuf {what} request ({exc}); "
            "check the exporter's protocol setting (http/protobuf or http/json)"
        ) from exc
    return message


def parse_trace_request(body: bytes | dict[str, Any], *, json: bool) -> Any:
    if json:
        return _parse_json(body, ExportTraceServiceRequest(), "trace")
    assert isinstance(body, bytes)
    return _parse_protobuf(body, ExportTraceServiceRequest(), "trace")


def parse_logs_request(body: bytes | dict[str, Any], *, json: bool) -> Any:
    if json:
        return _parse_json(body, ExportLogsServiceRequest(), "logs")
    assert isinstance(body, bytes)
    return _parse_protobuf(body, ExportLogsServiceRequest(), "logs")
