"""Convention mappers checked against what real instrumentation libraries emit.

Each library wraps the real `openai` client talking to the loopback test server; the captured
spans and log records go through `normalise()` exactly as OTLP ingestion would pass them.
Instrumentors patch the SDK globally, so each test instruments one library and `capture()`
always uninstruments it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from tests.support.llm_server import LLMServer, Reply, ToolCall
from tests.support.otel import Captured, capture
from tracereplay.context import AppContext
from tracereplay.ingest.conventions import NormalisedFields, normalise
from tracereplay.ingest.conventions.genai import parse_json
from tracereplay.ingest.conventions.reproduce import ALL_PREFIXES, restore, without_reproduced
from tracereplay.ingest.native import spans_from_batch
from tracereplay.ingest.otlp import build_span
from tracereplay.ingest.records import TraceHints
from tracereplay.ingest.renormalise import renormalise_project
from tracereplay.projects.service import find_project
from tracereplay.traces.queries import find_trace, trace_spans

# OpenLLMetry's responses wrapper defines a pydantic model with a class-based `config` the
# first time it is imported, which happens inside `instrument()`; nothing we can change.
traceloop_import_warning = pytest.mark.filterwarnings(
    "ignore:Support for class-based `config` is deprecated:DeprecationWarning"
)

WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": WEATHER_PARAMETERS,
    },
}
SYSTEM = {"role": "system", "content": "You are terse."}
QUESTION = {"role": "user", "content": "Weather in Paris?"}
WEATHER_CALL = {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
TOOL_RESULT = {"role": "tool", "content": "18C and sunny", "tool_call_id": "call_w1"}
ANSWER = "It is 18C and sunny in Paris."


def converse(llm_server: LLMServer) -> None:
    """A chat call, a call answered with a tool call, and the streamed follow-up with its result."""
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
    llm_server.script(
        Reply("Hello!", prompt_tokens=11, completion_tokens=2),
        Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")],
              prompt_tokens=20, completion_tokens=7),
        Reply(ANSWER, prompt_tokens=31, completion_tokens=9),
    )  # fmt: skip
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[SYSTEM, {"role": "user", "content": "Say hello"}],
        temperature=0.2,
        max_tokens=50,
    )
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[QUESTION],
        tools=[WEATHER_TOOL],
    )
    follow_up = [
        SYSTEM,
        QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "18C and sunny"},
    ]  # fmt: skip
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=follow_up,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass
    assert [b["messages"] for b in llm_server.bodies][2] == follow_up


def normalised_spans(captured: Captured) -> list[NormalisedFields]:
    return [normalise(attributes, events) for _, attributes, events in captured.spans()]


def tokens(span: NormalisedFields) -> tuple[int, int, int]:
    return span["prompt_tokens"], span["completion_tokens"], span["total_tokens"]


def assert_conversation(spans: list[NormalisedFields], *, tools_recorded: bool = True) -> None:
    assert len(spans) == 3
    chat, tool_call, follow_up = spans
    for span in spans:
        assert span["kind"] == "LLM"
        assert span["provider"] == "openai"
        assert span["model"] == "gpt-4o-mini"

    assert chat["invocation_parameters"] == {"temperature": 0.2, "max_tokens": 50}
    assert chat["input_messages"] == [SYSTEM, {"role": "user", "content": "Say hello"}]
    assert chat["output_messages"] == [{"role": "assistant", "content": "Hello!", "finish_reason": "stop"}]
    assert tokens(chat) == (11, 2, 13)

    assert tool_call["input_messages"] == [QUESTION]
    assert tool_call["output_messages"] == [
        {"role": "assistant", "tool_calls": [WEATHER_CALL], "finish_reason": "tool_calls"}
    ]
    assert tokens(tool_call) == (20, 7, 27)

    assert follow_up["input_messages"] == [
        SYSTEM,
        QUESTION,
        {"role": "assistant", "tool_calls": [WEATHER_CALL]},
        TOOL_RESULT,
    ]
    assert follow_up["output_messages"] == [{"role": "assistant", "content": ANSWER, "finish_reason": "stop"}]
    assert tokens(follow_up) == (31, 9, 40)
    if tools_recorded:
        assert tool_call["tools"] == [WEATHER_TOOL]
        assert follow_up["tools"] == [WEATHER_TOOL]
    else:
        assert "tools" not in tool_call and "tools" not in follow_up


# -- OpenInference -------------------------------------------------------------------------


def test_openinference_conversation(llm_server: LLMServer) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    with capture(OpenAIInstrumentor()) as captured:
        converse(llm_server)
    spans = normalised_spans(captured)
    assert_conversation(spans)
    # OpenInference records the whole request and response bodies as input/output.
    assert json.loads(spans[0]["input"])["messages"][1] == {"role": "user", "content": "Say hello"}
    assert json.loads(spans[0]["output"])["choices"][0]["message"]["content"] == "Hello!"


def test_openinference_prompt_template_and_trace_hints(llm_server: LLMServer) -> None:
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
    with (
        capture(OpenAIInstrumentor()) as captured,
        using_attributes(
            session_id="session-1",
            user_id="user-7",
            metadata={"env": "prod", "attempt": 2},
            tags=["nightly", "eu"],
            prompt_template="Describe the weather in {city}.",
            prompt_template_version="v3",
            prompt_template_variables={"city": "Paris"},
        ),
    ):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Describe the weather in Paris."}]
        )
    [span] = normalised_spans(captured)
    assert span["prompt_template"] == {
        "template": "Describe the weather in {city}.",
        "version": "v3",
        "variables": {"city": "Paris"},
    }
    assert span["session_id"] == "session-1"
    assert span["user_id"] == "user-7"
    assert span["metadata"] == {"env": "prod", "attempt": 2}
    assert span["tags"] == ["nightly", "eu"]
    assert span["output_messages"][0]["content"] == "Echo: Describe the weather in Paris."


def test_openinference_prompt_template_name_and_id() -> None:
    # Set by apps that manage templates in a registry; no instrumentation helper sets them.
    span = normalise({
        "openinference.span.kind": "LLM",
        "llm.prompt_template.name": "weather",
        "llm.prompt_template.id": "tmpl-42",
        "llm.prompt_template.template": "Weather in {city}?",
        "llm.prompt_template.variables": '{"city": "Oslo"}',
        "llm.prompt_template.version": "7",
    })  # fmt: skip
    assert span["prompt_template"] == {
        "name": "weather", "id": "tmpl-42", "template": "Weather in {city}?",
        "variables": {"city": "Oslo"}, "version": "7",
    }  # fmt: skip


def test_openinference_multimodal_and_text_completion(llm_server: LLMServer) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
    with capture(OpenAIInstrumentor()) as captured:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]}],
        )  # fmt: skip
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
    chat, completion = normalised_spans(captured)
    assert chat["input_messages"] == [{"role": "user", "parts": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "url": "https://example.com/cat.png"},
    ]}]  # fmt: skip
    assert completion["kind"] == "LLM"
    assert completion["invocation_parameters"] == {"max_tokens": 5}
    assert completion["input_messages"] == [{"role": "user", "content": "Say hi"}]
    assert completion["output_messages"] == [
        {"role": "assistant", "content": "Echo: Say hi", "finish_reason": "stop"}
    ]


def test_openinference_chain_tool_and_agent_spans() -> None:
    from openinference.instrumentation import OITracer, TraceConfig

    with capture() as captured:
        tracer = OITracer(captured.tracer_provider.get_tracer(__name__), config=TraceConfig())

        @tracer.tool(name="get_weather", description="Weather for a city")
        def get_weather(city: str) -> str:
            return "18C"

        @tracer.chain
        def pipeline(question: str) -> str:
            return get_weather(question)

        @tracer.agent
        def agent(question: str) -> dict[str, str]:
            return {"answer": pipeline(question)}

        agent("Paris")
    tool, chain, agent_span = normalised_spans(captured)
    assert tool == {"kind": "TOOL", "input": '{"city": "Paris"}', "output": "18C"}
    assert chain == {"kind": "CHAIN", "input": "Paris", "output": "18C"}
    assert agent_span == {"kind": "AGENT", "input": "Paris", "output": '{"answer": "18C"}'}


# -- OTel GenAI (opentelemetry-instrumentation-openai-v2) ----------------------------------


def test_genai_v2_event_form_conversation(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with capture(OpenAIInstrumentor()) as captured:
        converse(llm_server)
    # 2.3b0 records no tool definitions at all, and only the old per-message log events:
    # it predates opentelemetry-util-genai's structured `gen_ai.input.messages` mode.
    assert_conversation(normalised_spans(captured), tools_recorded=False)
    names = [e["name"] for _, _, events in captured.spans() for e in events]
    assert "gen_ai.tool.message" in names and "gen_ai.choice" in names


def test_genai_v2_without_content_capture(llm_server: LLMServer) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    with capture(OpenAIInstrumentor()) as captured:
        converse(llm_server)
    chat, tool_call, _ = normalised_spans(captured)
    assert chat["invocation_parameters"] == {"temperature": 0.2, "max_tokens": 50}
    # Roles and tool-call ids survive; text and arguments were never recorded.
    assert chat["input_messages"] == [{"role": "system"}, {"role": "user"}]
    assert tool_call["output_messages"] == [
        {"role": "assistant", "tool_calls": [{"id": "call_w1", "name": "get_weather"}],
         "finish_reason": "tool_calls"}
    ]  # fmt: skip


# -- OpenLLMetry / Traceloop (opentelemetry-instrumentation-openai) ------------------------


@traceloop_import_warning
def test_openllmetry_current_release_conversation(llm_server: LLMServer) -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    with capture(OpenAIInstrumentor()) as captured:
        converse(llm_server)
    # Since 0.5x the library writes the GenAI structured attributes (gen_ai.input.messages,
    # gen_ai.tool.definitions in the flat semconv shape, finish reason "tool_call"), so these
    # spans are read by the genai mapper.
    _, attributes, _ = captured.spans()[1]
    assert "gen_ai.input.messages" in attributes and "llm.request.type" not in attributes
    assert_conversation(normalised_spans(captured))


@traceloop_import_warning
def test_openllmetry_event_mode(llm_server: LLMServer) -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    with capture(OpenAIInstrumentor(use_attributes=False)) as captured:
        converse(llm_server)
    chat, tool_call, follow_up = normalised_spans(captured)
    assert chat["input_messages"] == [SYSTEM, {"role": "user", "content": "Say hello"}]
    assert chat["output_messages"] == [{"role": "assistant", "content": "Hello!", "finish_reason": "stop"}]
    # Its gen_ai.choice event carries tool_calls beside `message`, not inside it.
    assert tool_call["output_messages"] == [
        {"role": "assistant", "tool_calls": [WEATHER_CALL], "finish_reason": "tool_calls"}
    ]
    # This mode drops the tool message's id and emits no gen_ai.choice for streamed calls, so
    # only the roles and contents of the follow-up's input can be checked.
    assert [m["role"] for m in follow_up["input_messages"]] == ["system", "user", "assistant", "tool"]
    assert follow_up["input_messages"][2]["tool_calls"] == [WEATHER_CALL]
    assert follow_up["input_messages"][3]["content"] == "18C and sunny"


# Captured from opentelemetry-instrumentation-openai 0.50.1 (the indexed gen_ai.prompt.N.*
# form, before the switch to structured attributes) instrumenting openai 3.57 against
# tests/support/llm_server.py with the calls in `converse()` plus one image message. That
# release cannot be installed beside the current one, so its output is kept here verbatim
# (only the random server port in gen_ai.openai.api_base was fixed).
OPENLLMETRY_0_50_1_SPANS: list[dict[str, Any]] = [
    {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.2,
        "llm.headers": "None",
        "llm.is_streaming": False,
        "gen_ai.openai.api_base": "http://127.0.0.1:8000/v1/",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "You are terse.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Say hello",
        "llm.request.reasoning_effort": [],
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.openai.system_fingerprint": "fp_tracereplay",
        "llm.usage.total_tokens": 13,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.input_tokens": 11,
        "llm.usage.reasoning_tokens": 0,
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello!",
    },
    {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "llm.headers": "None",
        "llm.is_streaming": False,
        "gen_ai.openai.api_base": "http://127.0.0.1:8000/v1/",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Weather in Paris?",
        "llm.request.functions.0.name": "get_weather",
        "llm.request.functions.0.description": "Current weather for a city",
        "llm.request.functions.0.parameters": '{"type": "object", "properties": {"city": {"type": '
        '"string"}}, "required": ["city"]}',
        "llm.request.reasoning_effort": [],
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-2",
        "gen_ai.openai.system_fingerprint": "fp_tracereplay",
        "llm.usage.total_tokens": 27,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.input_tokens": 20,
        "llm.usage.reasoning_tokens": 0,
        "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.tool_calls.0.id": "call_w1",
        "gen_ai.completion.0.tool_calls.0.name": "get_weather",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
    },
    {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "llm.headers": "None",
        "llm.is_streaming": True,
        "gen_ai.openai.api_base": "http://127.0.0.1:8000/v1/",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "You are terse.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Weather in Paris?",
        "gen_ai.prompt.2.role": "assistant",
        "gen_ai.prompt.2.tool_calls.0.id": "call_w1",
        "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
        "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Paris"}',
        "gen_ai.prompt.3.role": "tool",
        "gen_ai.prompt.3.content": "18C and sunny",
        "gen_ai.prompt.3.tool_call_id": "call_w1",
        "llm.request.functions.0.name": "get_weather",
        "llm.request.functions.0.description": "Current weather for a city",
        "llm.request.functions.0.parameters": '{"type": "object", "properties": {"city": {"type": '
        '"string"}}, "required": ["city"]}',
        "llm.request.reasoning_effort": [],
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-3",
        "llm.usage.total_tokens": 40,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.input_tokens": 31,
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "It is 18C and sunny in Paris.",
    },
    {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "llm.headers": "None",
        "llm.is_streaming": False,
        "gen_ai.openai.api_base": "http://127.0.0.1:8000/v1/",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": '[{"type": "text", "text": "What is this?"}, {"type": "image_url", '
        '"image_url": {"url": "https://example.com/cat.png"}}]',
        "llm.request.reasoning_effort": [],
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": "chatcmpl-4",
        "gen_ai.openai.system_fingerprint": "fp_tracereplay",
        "llm.usage.total_tokens": 8,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.input_tokens": 4,
        "llm.usage.reasoning_tokens": 0,
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Echo: What is this?",
    },
]


def test_openllmetry_indexed_form_conversation() -> None:
    *conversation, image = [normalise(attributes) for attributes in OPENLLMETRY_0_50_1_SPANS]
    assert_conversation(conversation)
    assert image["model"] == "gpt-4o"
    assert image["input_messages"] == [{"role": "user", "parts": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "url": "https://example.com/cat.png"},
    ]}]  # fmt: skip


def test_openllmetry_text_completion_prompt() -> None:
    span = normalise({
        "llm.request.type": "completion",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo-instruct",
        "gen_ai.prompt.0.user": "Say hi",
        "gen_ai.completion.0.content": "Hi!",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 2,
        "gen_ai.usage.completion_tokens": 1,
    })  # fmt: skip
    assert span["kind"] == "LLM"
    assert span["input_messages"] == [{"role": "user", "content": "Say hi"}]
    assert span["output_messages"] == [{"role": "assistant", "content": "Hi!", "finish_reason": "stop"}]
    assert tokens(span) == (2, 1, 3)


def test_openllmetry_user_json_text_stays_text() -> None:
    span = normalise({"llm.request.type": "chat", "gen_ai.prompt.0.role": "user",
                      "gen_ai.prompt.0.content": '[{"city": "Paris"}]'})  # fmt: skip
    assert span["input_messages"] == [{"role": "user", "content": '[{"city": "Paris"}]'}]


@pytest.mark.parametrize(
    ("span_kind", "kind"), [("workflow", "CHAIN"), ("task", "CHAIN"), ("agent", "AGENT"), ("tool", "TOOL")]
)
def test_openllmetry_non_llm_kinds(span_kind: str, kind: str) -> None:
    # The shape traceloop-sdk's @workflow/@task/@agent/@tool decorators write.
    span = normalise({
        "traceloop.span.kind": span_kind,
        "traceloop.entity.name": "plan_trip",
        "traceloop.workflow.name": "trip",
        "traceloop.entity.input": '{"args": ["Paris"], "kwargs": {}}',
        "traceloop.entity.output": '"18C"',
        "traceloop.association.properties.session_id": "s-9",
        "traceloop.association.properties.user_id": "u-3",
        "traceloop.association.properties.tenant": "acme",
    })  # fmt: skip
    assert span == {
        "kind": kind,
        "input": '{"args": ["Paris"], "kwargs": {}}',
        "output": '"18C"',
        "session_id": "s-9",
        "user_id": "u-3",
        "metadata": {"tenant": "acme"},
    }


# -- OTel GenAI structured form (semconv shape; no installed library emits it) -------------

STRUCTURED_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_w1", "response": "18C and sunny"}]},
]  # fmt: skip
STRUCTURED_OUTPUT = [
    {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
]
STRUCTURED_INSTRUCTIONS = [{"type": "text", "content": "You are terse."}]
FLAT_TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
               "parameters": WEATHER_PARAMETERS}]  # fmt: skip
EXPECTED_STRUCTURED_INPUT = [
    SYSTEM,
    QUESTION,
    {"role": "assistant", "tool_calls": [WEATHER_CALL]},
    TOOL_RESULT,
]


def _content_attributes(encode: bool) -> dict[str, Any]:
    def value(v: Any) -> Any:
        return json.dumps(v) if encode else v

    return {
        "gen_ai.system_instructions": value(STRUCTURED_INSTRUCTIONS),
        "gen_ai.input.messages": value(STRUCTURED_INPUT),
        "gen_ai.output.messages": value(STRUCTURED_OUTPUT),
        "gen_ai.tool.definitions": value(FLAT_TOOLS),
    }


@pytest.mark.parametrize("variant", ["json-string", "structured", "details-event"])
def test_genai_structured_content(variant: str) -> None:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.0,
        "gen_ai.usage.input_tokens": 31,
        "gen_ai.usage.output_tokens": 9,
    }
    events: list[dict[str, Any]] = []
    if variant == "details-event":
        events.append({"name": "gen_ai.client.inference.operation.details", "time": None,
                       "attributes": _content_attributes(encode=False), "body": None})  # fmt: skip
    else:
        attributes.update(_content_attributes(encode=variant == "json-string"))
    span = normalise(attributes, events)
    assert span["kind"] == "LLM"
    assert span["invocation_parameters"] == {"temperature": 0.0}
    assert span["input_messages"] == EXPECTED_STRUCTURED_INPUT
    assert span["output_messages"] == [{"role": "assistant", "content": ANSWER, "finish_reason": "stop"}]
    assert span["tools"] == [WEATHER_TOOL]
    assert span["total_tokens"] == 40


@pytest.mark.parametrize("key", ["response", "result"])
def test_genai_tool_call_response_field(key: str) -> None:
    response: Any = {"temperature_c": 18} if key == "result" else "18C"
    messages = [{"role": "user", "parts": [{"type": "tool_call_response", "id": "call_w1", key: response}]}]
    span = normalise({"gen_ai.operation.name": "chat", "gen_ai.input.messages": messages})
    expected = json.dumps(response) if key == "result" else response
    assert span["input_messages"] == [{"role": "tool", "content": expected, "tool_call_id": "call_w1"}]


def test_genai_event_form_content_in_attributes() -> None:
    # Early GenAI event emitters put the message JSON in gen_ai.event.content, with no body.
    events = [
        {"name": "gen_ai.user.message", "time": None, "body": None,
         "attributes": {"gen_ai.event.content": '{"content": "Weather in Paris?"}'}},
        {"name": "gen_ai.choice", "time": None, "body": None,
         "attributes": {"gen_ai.event.content": json.dumps({"index": 0, "finish_reason": "stop",
                                                            "message": {"content": ANSWER}})}},
    ]  # fmt: skip
    span = normalise({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"}, events)
    assert span["kind"] == "LLM"
    assert span["input_messages"] == [QUESTION]
    assert span["output_messages"] == [{"role": "assistant", "content": ANSWER, "finish_reason": "stop"}]


def test_genai_request_parameters_and_old_usage_names() -> None:
    span = normalise({
        "gen_ai.operation.name": "text_completion",
        "gen_ai.system": "vllm",
        "gen_ai.response.model": "llama-3-8b",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.request.stop_sequences": ["\n\n"],
        "gen_ai.request.seed": 7,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.choice.count": 2,
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 30,
    })  # fmt: skip
    assert span["kind"] == "LLM"
    assert span["provider"] == "vllm"
    assert span["model"] == "llama-3-8b"
    assert span["invocation_parameters"] == {
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "frequency_penalty": 0.1,
        "presence_penalty": 0.2, "stop": ["\n\n"], "seed": 7, "top_k": 40, "n": 2,
    }  # fmt: skip
    assert tokens(span) == (12, 30, 42)


@pytest.mark.parametrize(
    ("operation", "kind"),
    [("chat", "LLM"), ("text_completion", "LLM"), ("generate_content", "LLM"), ("embeddings", "EMBEDDING"),
     ("execute_tool", "TOOL"), ("invoke_agent", "AGENT"), ("create_agent", "AGENT")],
)  # fmt: skip
def test_genai_kinds(operation: str, kind: str) -> None:
    assert normalise({"gen_ai.operation.name": operation})["kind"] == kind


def test_genai_execute_tool_input_and_output() -> None:
    span = normalise({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_w1",
        "gen_ai.tool.call.arguments": {"city": "Paris"},
        "gen_ai.tool.call.result": "18C and sunny",
        "gen_ai.conversation.id": "conv-1",
    })  # fmt: skip
    assert span == {"kind": "TOOL", "input": '{"city": "Paris"}', "output": "18C and sunny",
                    "session_id": "conv-1"}  # fmt: skip


def test_unknown_span_is_unknown() -> None:
    assert normalise({"http.method": "GET"}) == {"kind": "UNKNOWN"}


@pytest.mark.parametrize(
    ("attributes", "link"),
    [
        ({"openinference.span.kind": "LLM", "llm.prompt_template.template": "Hi {{name}}",
          "llm.prompt_template.variables": '{"name": "Ada"}', "tracereplay.prompt.name": "greeting",
          "tracereplay.prompt.version": "3", "tracereplay.prompt.variables": '{"name": "Ada"}'},
         {"template": "Hi {{name}}", "variables": {"name": "Ada"}, "name": "greeting", "version": 3}),
        ({"gen_ai.operation.name": "chat", "langfuse.observation.prompt.name": "support",
          "langfuse.observation.prompt.version": 7},
         {"name": "support", "version": 7}),
        ({"gen_ai.operation.name": "chat", "gen_ai.prompt.name": "support", "gen_ai.prompt.version": "v2"},
         {"name": "support", "version": "v2"}),
        ({"gen_ai.operation.name": "chat", "tracereplay.prompt.version": 1}, None),  # no name: no link
    ],
)  # fmt: skip
def test_prompt_links_are_read_whatever_the_convention(attributes: dict[str, Any], link: Any) -> None:
    assert normalise(attributes).get("prompt_template") == link


# -- what storage keeps --------------------------------------------------------------------


def same_attributes(restored: dict[str, Any], raw: dict[str, Any]) -> bool:
    """Equal key by key; a JSON text equals a re-encoding of the same document."""
    if restored.keys() != raw.keys():
        return False
    return all(a == b or parse_json(a) == parse_json(b) for a, b in zip(
        (restored[k] for k in raw), raw.values(), strict=True))  # fmt: skip


@traceloop_import_warning
@pytest.mark.parametrize("library", ["openinference", "otel-genai", "traceloop"])
def test_storage_keeps_every_raw_attribute_its_fields_do_not_reproduce(
    library: str, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_e2e_instrumentation import instrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
    with capture(instrumentor(library)) as captured:
        converse(llm_server)
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            ]}],
        )  # fmt: skip
    for _, raw, events in captured.spans():
        fields = normalise(raw, events)
        stored = without_reproduced(raw, fields)
        # Storage does not keep the content twice: the fields reproduce all the library wrote
        # (this release of the OTel GenAI instrumentation writes it as events, kept whole).
        assert not [key for key in stored if key.startswith(ALL_PREFIXES)]
        # Put back together from storage, the span is what the library sent, value for value.
        assert same_attributes(restore(stored, fields), raw), (sorted(raw), sorted(stored))


LITELLM_TOOL_CALL = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.prompt.0.role": "user",
    "gen_ai.prompt.0.content": "Weather in Paris?",
    "gen_ai.prompt.0.audio_url": "https://example.com/question.wav",  # no mapper reads this
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "",
    "gen_ai.completion.0.function_call.name": "get_weather",
    "gen_ai.completion.0.function_call.arguments": '{"city": "Paris"}',
}


def test_a_key_no_mapper_reads_stays_and_litellm_function_calls_are_read() -> None:
    raw = LITELLM_TOOL_CALL
    fields = normalise(raw)
    assert fields["output_messages"] == [{"role": "assistant", "content": "",
        "tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]}]  # fmt: skip
    stored = without_reproduced(raw, fields)
    for key in ("gen_ai.prompt.0.audio_url", "gen_ai.completion.0.function_call.name",
                "gen_ai.completion.0.function_call.arguments"):  # fmt: skip
        assert stored[key] == raw[key]
    assert "gen_ai.prompt.0.content" not in stored  # restated by the fields, so not kept twice
    assert restore(stored, fields) == raw


def test_a_value_read_in_part_is_kept_whole() -> None:
    # One text part as a list: the fields say it as plain content, which is not what was sent.
    raw = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "Hi",
        "llm.tools.0.tool.json_schema": '{"name": "get_weather", "parameters": {"type": "object"}}',
    }
    fields = normalise(raw)
    assert fields["input_messages"] == [{"role": "user", "content": "Hi"}]
    stored = without_reproduced(raw, fields)
    assert "llm.input_messages.0.message.role" not in stored
    for key in ("llm.input_messages.0.message.contents.0.message_content.text",
                "llm.tools.0.tool.json_schema"):  # fmt: skip
        assert stored[key] == raw[key]
    assert restore(stored, fields) == raw


def test_stored_spans_are_read_again_once_a_mapper_learns_more(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracereplay.ingest.conventions import openllmetry

    learnt = openllmetry._message_attribute

    def before(messages: dict[str, dict[str, Any]], index: str, field: str, value: Any) -> None:
        if not field.startswith("function_call."):  # the mapper before it read LiteLLM's calls
            learnt(messages, index, field, value)

    monkeypatch.setattr(openllmetry, "_message_attribute", before)
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    end = start + timedelta(seconds=1)
    span = build_span(trace_id, "00f067aa0ba902b7", None, "litellm-completion", start, end, "OK", None,
                      dict(LITELLM_TOOL_CALL), None, {})  # fmt: skip
    assert span.output_messages == [{"role": "assistant", "content": ""}]
    ctx.bootstrap()
    project = find_project(ctx.sessions, None).project_rowid
    # A replay of it (another model, the original's attributes kept) and a span of the JSON API:
    # what their producers wrote stays.
    hints = TraceHints(source_trace_id=trace_id, replay_id="r" * 32)
    replayed = dataclasses.replace(span, trace_id="5" * 32, model="claude-haiku-5-5", provider="anthropic",
                                   trace=hints)  # fmt: skip
    (native,) = spans_from_batch([{"trace_id": "6" * 32, "span_id": "1" * 16, "name": "llm", "kind": "LLM",
                                   "start_time": start, "model": "gpt-4o", "attributes": {"custom": 1},
                                   "input_messages": [{"role": "user", "content": "hi"}]}])  # fmt: skip
    ctx.ingest.store_spans(project, [span, replayed, native])
    monkeypatch.undo()

    done = renormalise_project(ctx.sessions, ctx.ingest, project)
    assert (done.traces, done.spans, done.changed) == (2, 2, 1)  # the replay's trace is not read
    with ctx.sessions() as session:
        (stored,) = trace_spans(session, find_trace(session, project, trace_id))
    assert stored.output_messages == [{"role": "assistant", "content": "",
        "tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]}]  # fmt: skip
    assert stored.attributes["gen_ai.completion.0.function_call.name"] == "get_weather"
    assert stored.kind == "LLM" and stored.model == "gpt-4o-mini"
    assert renormalise_project(ctx.sessions, ctx.ingest, project).changed == 0  # nothing more to learn
    with ctx.sessions() as session:
        (kept,) = trace_spans(session, find_trace(session, project, "5" * 32))
        (given,) = trace_spans(session, find_trace(session, project, "6" * 32))
    assert (kept.model, kept.provider, kept.output_messages) == (
        "claude-haiku-5-5",
        "anthropic",
        span.output_messages,
    )
    assert (given.model, given.input_messages) == ("gpt-4o", [{"role": "user", "content": "hi"}])


def test_an_anthropic_span_is_read_from_its_call_only_when_that_is_a_messages_request() -> None:
    flattened = {
        "openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.model_name": "claude-sonnet-4-6",
        "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 64}),
        "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "hi",
    }  # fmt: skip
    langchain = {
        "messages": [[{"lc": 1, "type": "constructor", "kwargs": {"content": "hi", "type": "human"}}]]
    }
    tool_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    litellm = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [tool_call]},
    ]}  # fmt: skip
    for other in (langchain, litellm):  # not what the anthropic SDK is given: the flattened keys are read
        fields = normalise({**flattened, "input.value": json.dumps(other)})
        assert fields["input_messages"] == [{"role": "user", "content": "hi"}]
        assert fields["invocation_parameters"] == {"temperature": 0.2, "max_tokens": 64}
    call = {"model": "claude-sonnet-4-6", "max_tokens": 64, "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": "hi"}], "top_k": 5}  # fmt: skip
    fields = normalise({**flattened, "input.value": json.dumps(call)})
    assert fields["input_messages"] == [{"role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
                                        {"role": "user", "content": "hi"}]  # fmt: skip
    assert fields["invocation_parameters"] == {"temperature": 0.2, "max_tokens": 64, "top_k": 5}


RENDERED = {
    "input_messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "parts": [{"type": "text", "text": "What is this?"},
                                   {"type": "image", "url": "https://e.com/a.png"},
                                   {"type": "image", "url": "data:image/png;base64,iVBO"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": '{"a": 1}'}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ],
    "output_messages": [{"role": "assistant", "content": "Done.", "finish_reason": "stop"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}  # fmt: skip
FROZEN = {"openinference/1": "0ada1e2ca9e112d1", "openllmetry/1": "86bfea7b6f3b3877",
          "genai/1": "1cef1867cb69c716", "genai-instructions/1": "f7abeb621896c752"}  # fmt: skip


def test_released_renderers_never_change() -> None:
    # Stored spans name the form their keys left storage in, and are put back together by it: a
    # better renderer is a new version beside the old one, never a change to it.
    import hashlib

    from tracereplay.ingest.conventions.reproduce import FORMS

    rendered = {name: hashlib.sha256(json.dumps(render(RENDERED), sort_keys=True).encode()).hexdigest()[:16]
                for name, (_, render) in FORMS.items()}  # fmt: skip
    assert {name: rendered[name] for name in FROZEN} == FROZEN


def test_the_anthropic_sdks_own_span_gives_its_thinking_settings() -> None:
    span = normalise({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                      "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.request.max_tokens": 300,
                      "anthropic.thinking.type": "enabled",
                      "anthropic.thinking.budget_tokens": 1024})  # fmt: skip
    assert span["invocation_parameters"] == {
        "max_tokens": 300,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
