"""Synthetic OTLP traffic shaped like an instrumented LLM agent (OpenInference conventions).

Each trace: a CHAIN root, then K rounds of (LLM span with messages, tools and token
counts; TOOL span with the call's input and output). Used by the ingestion benchmark and the
crash-durability test, so both exercise the real mapping, not a toy span.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

WEATHER_TOOL = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
)


def _kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def _span(
    trace_id: bytes,
    span_id: bytes,
    parent: bytes,
    name: str,
    start: int,
    end: int,
    attrs: list[KeyValue],
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=attrs,
        status=Status(code=Status.STATUS_CODE_OK),
    )


def agent_trace_spans(k: int, base_ns: int, question: str, history: int | None = None) -> list[Span]:
    """One agent trace: 1 CHAIN root + k LLM spans + k TOOL spans. Each LLM call sees the
    conversation so far, or only its last `history` turns."""
    trace_id = os.urandom(16)
    root_id = os.urandom(8)
    ms = 1_000_000
    t = base_ns
    spans: list[Span] = []
    messages = [("system", "You are a helpful travel agent. Use tools when needed."), ("user", question)]
    for round_ in range(k):
        llm_attrs = [
            _kv("openinference.span.kind", "LLM"),
            _kv("llm.model_name", "gpt-4o-mini"),
            _kv("llm.provider", "openai"),
            _kv("llm.system", "openai"),
            _kv("llm.invocation_parameters", '{"temperature": 0.2, "max_tokens": 256}'),
            _kv("llm.tools.0.tool.json_schema", WEATHER_TOOL),
            _kv("llm.token_count.prompt", 120 + 40 * round_),
            _kv("llm.token_count.completion", 24),
            _kv("llm.token_count.total", 144 + 40 * round_),
            _kv("input.value", json.dumps({"messages": [{"role": r, "content": c} for r, c in messages]})),
            _kv("input.mime_type", "application/json"),
        ]
        for index, (role, content) in enumerate(messages):
            llm_attrs.append(_kv(f"llm.input_messages.{index}.message.role", role))
            llm_attrs.append(_kv(f"llm.input_messages.{index}.message.content", content))
        call_id = f"call_{round_}_{trace_id.hex()[:8]}"
        llm_attrs += [
            _kv("llm.output_messages.0.message.role", "assistant"),
            _kv("llm.output_messages.0.message.tool_calls.0.tool_call.id", call_id),
            _kv("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "get_weather"),
            _kv(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                '{"city": "Paris"}',
            ),
        ]
        spans.append(_span(trace_id, os.urandom(8), root_id, "ChatCompletion", t, t + 800 * ms, llm_attrs))
        t += 800 * ms
        result = f"Sunny, {18 + round_} degrees"
        tool_attrs = [
            _kv("openinference.span.kind", "TOOL"),
            _kv("tool.name", "get_weather"),
            _kv("input.value", '{"city": "Paris"}'),
            _kv("output.value", result),
        ]
        spans.append(_span(trace_id, os.urandom(8), root_id, "get_weather", t, t + 50 * ms, tool_attrs))
        t += 50 * ms
        messages.append(("assistant", f"calling get_weather ({call_id})"))
        messages.append(("tool", result))
        if history is not None and len(messages) > 2 + history:
            messages = messages[:2] + messages[-history:]
    root_attrs = [
        _kv("openinference.span.kind", "CHAIN"),
        _kv("input.value", question),
        _kv("output.value", "It is sunny in Paris."),
        _kv("session.id", "bench-session"),
    ]
    spans.insert(0, _span(trace_id, root_id, b"", "agent", base_ns, t, root_attrs))
    return spans


def requests(
    traces: int,
    k: int,
    spans_per_request: int = 512,
    base_ns: int = 1_760_000_000_000_000_000,
    every_ns: int = 10_000_000_000,
    history: int | None = None,
) -> Iterator[bytes]:
    """Serialized ExportTraceServiceRequests, batched like the SDK's BatchSpanProcessor: trace
    number i starts at `base_ns + i * every_ns`."""
    resource = Resource(attributes=[_kv("service.name", "bench-agent")])
    scope = InstrumentationScope(name="bench", version="1")
    pending: list[Span] = []
    for index in range(traces):
        start = base_ns + index * every_ns
        pending.extend(agent_trace_spans(k, start, f"Weather in Paris? #{index}", history))
        while len(pending) >= spans_per_request:
            batch, pending = pending[:spans_per_request], pending[spans_per_request:]
            yield _request(resource, scope, batch)
    if pending:
        yield _request(resource, scope, pending)


def _request(resource: Resource, scope: InstrumentationScope, spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
    )
    return request.SerializeToString()  # type: ignore[no-any-return]
