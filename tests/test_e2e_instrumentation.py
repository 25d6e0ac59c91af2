"""End to end: real instrumentation libraries -> OTLP/HTTP -> a running `tracereplay serve` -> API.

Each library wraps the real `openai` client calling the loopback test server; spans (and, for
the official GenAI instrumentation, log events carrying message content) are exported over
OTLP/HTTP protobuf exactly as in a user's app, then read back through the REST API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.conftest import RunningServer
from tests.support.llm_server import LLMServer, Reply, ToolCall
from tests.support.otel import exporting, unwrap_leftovers

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
SYSTEM = {"role": "system", "content": "You are a weather assistant."}
QUESTION = {"role": "user", "content": "Weather in Paris?"}


def instrumentor(library: str) -> Any:
    if library == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()
    if library == "otel-genai":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as GenAIInstrumentor

        return GenAIInstrumentor()
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

    return TraceloopInstrumentor()


@contextmanager
def exporting_to(server: RunningServer, library: str) -> Iterator[TracerProvider]:
    """Instrument `library` with OTLP/HTTP exporters pointed at the server; flush on exit."""
    resource = {"service.name": f"e2e-{library}", "deployment.environment.name": "test"}
    tracer_provider = exporting(server.url, server.headers, resource)
    logger_provider = LoggerProvider(resource=Resource.create(resource))
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.url}/v1/logs", headers=server.headers))
    )
    tool = instrumentor(library)
    tool.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        yield tracer_provider
    finally:
        tool.uninstrument()
        unwrap_leftovers()
        tracer_provider.shutdown()  # flushes: everything is acknowledged when this returns
        logger_provider.shutdown()


@pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("library", ["openinference", "otel-genai", "traceloop"])
def test_instrumented_openai_calls_are_readable_through_the_api(
    library: str,
    server: RunningServer,
    llm_server: LLMServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    llm_server.script(
        Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")],
              prompt_tokens=40, completion_tokens=12),
        Reply("18C and sunny in Paris.", prompt_tokens=61, completion_tokens=8),
    )  # fmt: skip
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
    with exporting_to(server, library) as tracer_provider:
        tracer = tracer_provider.get_tracer("e2e-app")
        with tracer.start_as_current_span("weather-agent"):
            first = client.chat.completions.create(
                model="gpt-4o-mini", messages=[SYSTEM, QUESTION], tools=[WEATHER_TOOL],
                temperature=0.2, max_tokens=100,
            )  # fmt: skip
            call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    SYSTEM, QUESTION,
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": call.id, "type": "function",
                         "function": {"name": "get_weather", "arguments": call.function.arguments}}]},  # type: ignore[union-attr]
                    {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"},
                ],
                temperature=0.2, max_tokens=100,
            )  # fmt: skip

    api = httpx.Client(base_url=server.url, headers=server.headers)
    request.addfinalizer(api.close)
    listed = api.get("/api/v1/traces", params={"name": "weather-agent"}).json()["traces"]
    assert len(listed) == 1, listed
    trace = api.get(f"/api/v1/traces/{listed[0]['trace_id']}").json()
    assert trace["environment"] == "test"
    assert trace["llm_span_count"] == 2
    llm_spans = sorted((s for s in trace["spans"] if s["kind"] == "LLM"), key=lambda s: s["start_time"])
    first_span, second_span = llm_spans
    for span in llm_spans:
        assert span["model"] == "gpt-4o-mini"
        assert span["provider"] == "openai"
        assert span["parent_span_id"] == trace["tree"][0]["span_id"]
        assert span["invocation_parameters"]["temperature"] == 0.2
        assert span["invocation_parameters"]["max_tokens"] == 100
    assert (first_span["prompt_tokens"], first_span["completion_tokens"]) == (40, 12)
    assert (second_span["prompt_tokens"], second_span["completion_tokens"]) == (61, 8)
    assert trace["total_tokens"] == 40 + 12 + 61 + 8

    assert first_span["input_messages"][:2] == [SYSTEM, QUESTION]
    tool_call = first_span["output_messages"][0]["tool_calls"][0]
    assert (tool_call["id"], tool_call["name"]) == ("call_1", "get_weather")
    assert '"Paris"' in tool_call["arguments"]
    if library != "otel-genai":  # openai-v2 2.3b0 does not record tool definitions
        assert first_span["tools"][0]["function"]["name"] == "get_weather"

    history = second_span["input_messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"]
    assert history[2]["tool_calls"][0]["id"] == "call_1"
    assert history[3] == {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_1"}
    assert second_span["output_messages"][0]["content"] == "18C and sunny in Paris."
