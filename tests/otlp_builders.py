"""Small builders of OTLP requests for tests that need exact control over ids and fields."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

T0 = 1_760_000_000_000_000_000
MS = 1_000_000


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(value)))
    return AnyValue(string_value=str(value))


def kvs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def span(
    trace_id: str,
    span_id: str,
    name: str,
    *,
    parent: str | None = None,
    start_ms: int = 0,
    end_ms: int = 100,
    attributes: dict[str, Any] | None = None,
    error: str | None = None,
) -> Span:
    return Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent) if parent else b"",
        name=name,
        start_time_unix_nano=T0 + start_ms * MS,
        end_time_unix_nano=T0 + end_ms * MS,
        attributes=kvs(attributes or {}),
        status=Status(code=Status.STATUS_CODE_ERROR, message=error) if error else Status(),
    )


def trace_request(spans: list[Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=kvs(resource or {"service.name": "test-app"})),
                scope_spans=[ScopeSpans(spans=spans)],
            )
        ]
    )


def logs_request(records: list[LogRecord]) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=Resource(), scope_logs=[ScopeLogs(log_records=records)])]
    )


def log_record(
    trace_id: str, span_id: str, event_name: str, body: dict[str, Any], at_ms: int = 0
) -> LogRecord:
    return LogRecord(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        time_unix_nano=T0 + at_ms * MS,
        event_name=event_name,
        body=any_value(body),
    )


def llm_attributes(
    model: str = "gpt-4o-mini", question: str = "What is the capital of France?"
) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": "openai",
        "llm.invocation_parameters": '{"temperature": 0.3}',
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Paris.",
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 3,
        "llm.token_count.total": 15,
    }


PROTOBUF = {"Content-Type": "application/x-protobuf"}  # headers of an OTLP/HTTP protobuf export
