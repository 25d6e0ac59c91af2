"""Replay fidelity: an app records one call with tools, an image, a JSON response format and
non-default parameters through each instrumentation library, against the test LLM server; a
replay with nothing changed sends that request again, field by field, wherever the library
recorded it, and names in the span's verdict what it did not. A strict replay of a trace that
is not exact is refused with the fields named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.conftest import RunningServer, start_server, stop_server
from tests.support.llm_server import LLMServer
from tests.support.otel import exporting
from tests.support.replays import wait_for
from tests.test_e2e_instrumentation import WEATHER_TOOL, exporting_to
from tracereplay.ingest.conventions import normalise
from tracereplay.ingest.records import SpanRecord
from tracereplay.replay.fidelity import assess, verdict
from tracereplay_sdk import capturing_http_client

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}}
REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": [{"type": "text", "text": "What is in this image?"}, IMAGE]},
    ],
    "tools": [WEATHER_TOOL],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "seed": 7,
    "stop": ["END"],
    "frequency_penalty": 0.5,
    "presence_penalty": 0.25,
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 50,
    "user": "u-1",
    "parallel_tool_calls": False,
}
# What each library is known to leave out of this request (measured with it: see fidelity.py).
EXPECTED_UNKNOWN = {
    "openinference": set(),
    "otel-genai": {"tools", "tool_choice", "parallel_tool_calls", "logit_bias", "user"},
    "traceloop": {"seed", "stop", "tool_choice", "parallel_tool_calls", "logit_bias", "messages"},
}


@pytest.fixture(scope="module")
def fidelity_server(
    tmp_path_factory: pytest.TempPathFactory, _llm_server_session: LLMServer
) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("fidelity") / "home"
    home.mkdir()
    server = start_server(home, {
        "TRACEREPLAY_OPENAI_API_KEY": "sk-test-not-a-real-key",
        "TRACEREPLAY_OPENAI_BASE_URL": _llm_server_session.base_url,
        "TRACEREPLAY_ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
        "TRACEREPLAY_ANTHROPIC_BASE_URL": _llm_server_session.anthropic_base_url,
        "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
    })  # fmt: skip
    yield server
    stop_server(server)


def record(
    server: RunningServer, library: str, llm_server: LLMServer, name: str, *, capture: bool = False
) -> tuple[str, dict[str, Any]]:
    """The app's call through `library` (with the SDK's exact capture when `capture`); (trace
    id, the body the LLM server received)."""
    http_client = capturing_http_client() if capture else None
    client = openai.OpenAI(
        base_url=llm_server.base_url, api_key="test", max_retries=0, http_client=http_client
    )
    with (
        client,  # closes its HTTP client too
        exporting_to(server, library) as tracer_provider,
        tracer_provider.get_tracer("app").start_as_current_span(name),
    ):
        client.chat.completions.create(**REQUEST)
    sent = llm_server.bodies[-1]
    listed = httpx.get(f"{server.url}/api/v1/traces", params={"name": name}, headers=server.headers).json()
    return listed["traces"][0]["trace_id"], sent


@pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("library", ["openinference", "otel-genai", "traceloop"])
def test_a_replay_sends_what_the_app_sent_and_names_what_it_cannot(
    library: str, fidelity_server: RunningServer, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    server = fidelity_server
    trace_id, sent = record(server, library, llm_server, f"fidelity-{library}")
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)

    strict = api.post(f"/api/v1/traces/{trace_id}/replays", json={"fidelity": "strict"})
    if EXPECTED_UNKNOWN[library]:
        assert strict.status_code == 422, strict.text
        message = strict.json()["error"]["message"]
        for field in EXPECTED_UNKNOWN[library]:
            assert field in message, (field, message)
    else:
        assert strict.status_code == 202, strict.text
        assert wait_for(api, strict.json()["replay_id"])["status"] == "COMPLETED"

    created = api.post(f"/api/v1/traces/{trace_id}/replays", json={})
    replay = wait_for(api, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    replayed_request = llm_server.bodies[-1]
    spans = api.get(f"/api/v1/traces/{replay['result_trace_id']}").json()["spans"]
    (llm,) = [span for span in spans if span["kind"] == "LLM"]
    fidelity = llm["attributes"]["tracereplay.replay.fidelity"]
    unknown = {finding["field"] for finding in fidelity["unknown"]}
    assert unknown == EXPECTED_UNKNOWN[library], fidelity
    assert fidelity["verdict"] == ("inexact" if unknown else "exact")
    for key, value in sent.items():
        if key not in unknown:
            assert replayed_request.get(key) == value, (key, replayed_request.get(key), value)
    api.close()


def span(**fields: Any) -> SpanRecord:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    return SpanRecord("a" * 32, "b" * 16, None, "chat", now, now, kind="LLM", **fields)


def test_tool_calls_without_definitions_are_named() -> None:
    calls = [{"role": "assistant", "tool_calls": [{"id": "c1", "name": "search_docs", "arguments": "{}"}]},
             {"role": "tool", "tool_call_id": "c1", "content": "found"}]  # fmt: skip
    findings = assess(span(input_messages=calls, attributes={"custom": 1}))
    assert [f.field for f in findings] == ["tools"]
    assert "1 tool call(s) in this call name search_docs" in findings[0].why
    assert verdict(assess(span(input_messages=[{"role": "user", "content": "hi"}]))) == {
        "verdict": "exact", "unknown": []
    }  # fmt: skip
    schema_only = span(invocation_parameters={"response_format": {"type": "json_schema"}})
    assert [f.field for f in assess(schema_only)] == ["response_format"]


def test_the_libraries_known_gaps_are_not_held_against_a_span_that_records_them() -> None:
    recorded = span(attributes={"gen_ai.system": "openai", "gen_ai.operation.name": "chat"},
                    invocation_parameters={"tool_choice": "auto", "parallel_tool_calls": False,
                                           "logit_bias": {}, "user": "u"},
                    tools=[WEATHER_TOOL])  # fmt: skip
    assert assess(recorded) == []
    assert {f.field for f in assess(span(attributes={"gen_ai.system": "openai"}))} == {
        "tools", "tool_choice", "parallel_tool_calls", "logit_bias", "user"
    }  # fmt: skip


def test_tool_definitions_rebuilt_from_the_calls_only_when_asked(
    fidelity_server: RunningServer, llm_server: LLMServer
) -> None:
    server = fidelity_server
    trace_id = "c" * 32
    call = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris", "days": 3}'}
    spans = [{"trace_id": trace_id, "span_id": "d" * 16, "name": "chat", "kind": "LLM",
              "provider": "openai", "model": "gpt-4o-mini",
              "start_time": "2026-11-30T10:00:00Z", "end_time": "2026-11-30T10:00:01Z",
              "input_messages": [{"role": "user", "content": "Weather?"},
                                 {"role": "assistant", "tool_calls": [call]},
                                 {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
              "output_messages": [{"role": "assistant", "content": "Sunny."}]}]  # fmt: skip
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    assert api.post("/api/v1/spans", json={"spans": spans}).status_code == 200

    def replay(**body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        done = wait_for(api, api.post(f"/api/v1/traces/{trace_id}/replays", json=body).json()["replay_id"])
        assert done["status"] == "COMPLETED", done
        (llm,) = api.get(f"/api/v1/traces/{done['result_trace_id']}").json()["spans"]
        return llm_server.bodies[-1], llm

    sent, llm = replay()
    assert "tools" not in sent
    (finding,) = llm["attributes"]["tracereplay.replay.fidelity"]["unknown"]
    told = "no tool definitions recorded; 1 tool call(s) in this call name get_weather"
    assert finding == {"field": "tools", "why": told}

    sent, llm = replay(reconstructTools=True)
    shape = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    rebuilt = [{"type": "function", "function": {"name": "get_weather", "parameters": shape}}]
    assert sent["tools"] == rebuilt and llm["tools"] == rebuilt  # what was sent is what is stored
    (finding,) = llm["attributes"]["tracereplay.replay.fidelity"]["unknown"]
    assert finding["why"].startswith("reconstructed from 1 tool call(s) (get_weather)")
    strict = api.post(
        f"/api/v1/traces/{trace_id}/replays", json={"fidelity": "strict", "reconstructTools": True}
    )
    assert strict.status_code == 422 and "tools" in strict.json()["error"]["message"]
    api.close()


@pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("library", ["openinference", "otel-genai", "traceloop"])
def test_with_the_sdks_exact_capture_every_library_replays_exactly(
    library: str, fidelity_server: RunningServer, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    server = fidelity_server
    trace_id, sent = record(server, library, llm_server, f"captured-{library}", capture=True)
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    stored = api.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    (original,) = [span for span in stored if span["kind"] == "LLM"]
    assert json.loads(original["attributes"]["tracereplay.request.body"]) == sent  # kept as sent
    assert original["attributes"]["tracereplay.request.bytes"] > 0
    assert all("authorization" not in str(value).lower() for value in original["attributes"].values())
    created = api.post(f"/api/v1/traces/{trace_id}/replays", json={"fidelity": "strict"})
    assert created.status_code == 202, created.text
    replay = wait_for(api, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    assert llm_server.bodies[-1] == sent  # the very request the app sent, every field
    (llm,) = [
        s
        for s in api.get(f"/api/v1/traces/{replay['result_trace_id']}").json()["spans"]
        if s["kind"] == "LLM"
    ]
    assert llm["attributes"]["tracereplay.replay.fidelity"] == {"verdict": "exact", "unknown": []}
    api.close()


def test_the_recorder_leaves_credentials_out_and_other_apis_unread() -> None:

    from tracereplay_sdk import request_recorder

    tracer = TracerProvider().get_tracer("app")
    record = request_recorder(max_bytes=1000)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "api_key": "sk-x", "max_tokens": 5}
    with tracer.start_as_current_span("chat") as current:
        record(httpx.Request("POST", "http://gateway/v1/chat/completions", json=body))
        recorded = dict(current.attributes or {})  # type: ignore[attr-defined]
    kept = json.loads(str(recorded["tracereplay.request.body"]))
    assert "api_key" not in kept and kept["max_tokens"] == 5  # a credential, not a parameter
    mcp = {
        "model": "m",
        "max_tokens": 5,
        "messages": [],
        "mcp_servers": [
            {
                "type": "url",
                "url": "https://mcp.example.com",
                "name": "docs",
                "authorization_token": "tok-secret",
            }
        ],
    }
    with tracer.start_as_current_span("claude") as claude:
        record(httpx.Request("POST", "http://gateway/v1/messages", json=mcp))
        body = str((claude.attributes or {})["tracereplay.request.body"])  # type: ignore[attr-defined]
    assert "tok-secret" not in body and json.loads(body)["mcp_servers"][0]["name"] == "docs"  # at any depth
    assert recorded["tracereplay.request.path"] == "/v1/chat/completions"
    with tracer.start_as_current_span("big") as big:
        record(httpx.Request("POST", "http://gateway/v1/chat/completions", content=b"{" * 2000))
        assert "tracereplay.request.body" not in (big.attributes or {})  # type: ignore[attr-defined]
    with tracer.start_as_current_span("broken") as broken:
        record(
            httpx.Request("POST", "http://gateway/v1/chat/completions", content=b"[" * 900)
        )  # no exception
        assert "tracereplay.request.body" not in (broken.attributes or {})  # type: ignore[attr-defined]
    # Anthropic's Messages are read (below); another API's body is kept, not read: no claim of
    # exactness from it.
    other = span(attributes={"gen_ai.system": "openai", "gen_ai.is_streaming": False,
                             "tracereplay.request.path": "/v1/responses",
                             "tracereplay.request.body": json.dumps({"input": "hi", "seed": 1}),
                             "tracereplay.request.bytes": 40})  # fmt: skip
    assert assess(other) != []


def test_gaps_are_held_only_where_they_were_measured_and_guesses_are_named() -> None:
    # Another provider's call through a GenAI instrumentation: not held to the OpenAI gaps.
    anthropic = span(provider="anthropic", attributes={"gen_ai.system": "anthropic"})
    assert assess(anthropic) == []
    # An image without detail sent through OpenInference or the GenAI events: the app sent none.
    image = [{"role": "user", "parts": [{"type": "image", "url": "https://example.com/a.png"}]}]
    assert assess(span(input_messages=image, attributes={"openinference.span.kind": "LLM"})) == []
    # A format rebuilt from a bare schema, or inferred from gen_ai.output.type, is said to be.
    schema = span(attributes={"gen_ai.system": "openai", "gen_ai.request.structured_output_schema":
                              json.dumps({"type": "object", "properties": {}})},
                  invocation_parameters={"response_format": {"type": "json_schema"}, "tool_choice": "none",
                                         "parallel_tool_calls": True, "logit_bias": {}, "user": "u"},
                  tools=[WEATHER_TOOL])  # fmt: skip
    assert [f.why for f in assess(schema)][-1].startswith("rebuilt from the recorded output schema")
    inferred = span(attributes={"gen_ai.system": "openai", "gen_ai.output.type": "json"},
                    invocation_parameters={"response_format": {"type": "json_object"}, "tool_choice": "none",
                                           "parallel_tool_calls": True, "logit_bias": {}, "user": "u"},
                    tools=[WEATHER_TOOL])  # fmt: skip
    assert [f.why for f in assess(inferred)] == ["inferred from gen_ai.output.type"]


def test_what_the_replay_sets_itself_is_known_and_a_refusal_stays_readable() -> None:
    from tracereplay.errors import Unprocessable
    from tracereplay.replay.service import STRICT_LISTED, refuse_inexact

    openllmetry = span(attributes={"gen_ai.is_streaming": False, "gen_ai.system": "openai"})
    assert {f.field for f in assess(openllmetry)} == {"seed", "stop", "tool_choice", "parallel_tool_calls",
                                                      "logit_bias"}  # fmt: skip
    chosen = {"seed", "stop", "tool_choice", "parallel_tool_calls", "logit_bias"}
    assert assess(openllmetry, chosen=chosen) == []
    refuse_inexact([openllmetry], chosen=chosen)  # nothing left unknown: accepted
    many = [openllmetry] * 5  # 25 findings
    with pytest.raises(Unprocessable) as refused:
        refuse_inexact(many)
    assert refused.value.message.count("not recorded by OpenLLMetry") == STRICT_LISTED
    assert "and 5 more (see details)" in refused.value.message and len(refused.value.details) == 25  # type: ignore[arg-type]


# -- Anthropic ------------------------------------------------------------------------------

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
CLAUDE_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 300,
    "system": [
        {"type": "text", "text": "You are a terse weather assistant."},
        {"type": "text", "text": "Long shared context.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this image, and what is the weather in Paris?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "21C and sunny"},
            {"type": "text", "text": "Summarise it, please."},
        ]},
    ],
    "tools": [{"name": "get_weather", "description": "Current weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u-1"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}  # fmt: skip
# The 2.x SDK has no arguments for these: apps send them in the body.
SAMPLING = {"top_p": 0.95, "top_k": 40}
EXPECTED_CLAUDE_UNKNOWN = {
    "openinference": set(),
    "openllmetry": {"temperature", "top_p", "top_k", "stop_sequences", "tool_choice", "metadata", "thinking",
                    "cache_control"},
}  # fmt: skip


def record_claude(
    server: RunningServer, library: str, llm_server: LLMServer, name: str, *, capture: bool = False
) -> tuple[str, dict[str, Any]]:
    """The app's call through the anthropic SDK and `library` (the SDK's own telemetry on, as by
    default); (trace id, the body the LLM server received)."""
    from tests.test_same_call import claude_app

    with claude_app(server, llm_server, library, name, capture=capture) as client:
        client.messages.create(**CLAUDE_REQUEST, extra_body=SAMPLING)
    listed = httpx.get(f"{server.url}/api/v1/traces", params={"name": name}, headers=server.headers).json()
    return listed["traces"][0]["trace_id"], llm_server.bodies[-1]


def without_cache_marks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_cache_marks(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_cache_marks(v) for v in value]
    return value


def counted_llm_span(api: httpx.Client, trace_id: str) -> dict[str, Any]:
    spans = api.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    (llm,) = [span for span in spans if span["kind"] == "LLM" and span["same_call_as"] is None]
    return llm


@pytest.mark.parametrize("library", ["openinference", "openllmetry"])
def test_an_anthropic_call_is_replayed_as_sent_where_recorded(
    library: str, fidelity_server: RunningServer, llm_server: LLMServer
) -> None:
    server = fidelity_server
    trace_id, sent = record_claude(server, library, llm_server, f"claude-{library}")
    assert sent == {**CLAUDE_REQUEST, **SAMPLING}
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    expected = EXPECTED_CLAUDE_UNKNOWN[library]
    strict = api.post(f"/api/v1/traces/{trace_id}/replays", json={"fidelity": "strict"})
    if expected:
        assert strict.status_code == 422, strict.text
        for field in expected:
            assert field in strict.json()["error"]["message"]
    else:
        assert strict.status_code == 202, strict.text
        assert wait_for(api, strict.json()["replay_id"])["status"] == "COMPLETED"

    replay = wait_for(api, api.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    replayed = llm_server.bodies[-1]
    fidelity = counted_llm_span(api, replay["result_trace_id"])["attributes"]["tracereplay.replay.fidelity"]
    assert {finding["field"] for finding in fidelity["unknown"]} == expected, fidelity
    assert set(replayed) <= set(sent)  # nothing guessed
    for key, value in sent.items():
        if key in expected:
            continue
        if "cache_control" in expected:  # the marks are unknown, what they marked is not
            assert without_cache_marks(replayed[key]) == without_cache_marks(value), key
        else:
            assert replayed[key] == value, (key, replayed.get(key), value)
    api.close()


@pytest.mark.parametrize("library", ["openinference", "openllmetry"])
def test_with_the_sdks_exact_capture_an_anthropic_call_replays_exactly(
    library: str, fidelity_server: RunningServer, llm_server: LLMServer
) -> None:
    server = fidelity_server
    trace_id, sent = record_claude(server, library, llm_server, f"claude-captured-{library}", capture=True)
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    original = counted_llm_span(api, trace_id)
    assert json.loads(original["attributes"]["tracereplay.request.body"]) == sent
    created = api.post(f"/api/v1/traces/{trace_id}/replays", json={"fidelity": "strict"})
    assert created.status_code == 202, created.text
    replay = wait_for(api, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    assert llm_server.bodies[-1] == sent  # the very request the app sent, every field
    replayed = counted_llm_span(api, replay["result_trace_id"])
    assert replayed["attributes"]["tracereplay.replay.fidelity"] == {"verdict": "exact", "unknown": []}
    api.close()


# -- agent frameworks ------------------------------------------------------------------------

FRAMEWORK_SETTINGS = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "seed": 7, "presence_penalty": 0.5}
CAT = "https://example.com/cat.png"


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"18C in {city}"


def record_pydantic_ai(server: RunningServer, llm_server: LLMServer, name: str) -> None:
    import asyncio

    from pydantic import BaseModel
    from pydantic_ai import Agent, ImageUrl, NativeOutput
    from pydantic_ai.capabilities import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    class CityWeather(BaseModel):
        city: str
        temperature_c: int

    tracer_provider = exporting(server.url, server.headers)
    settings = InstrumentationSettings(tracer_provider=tracer_provider, include_content=True)
    question = [
        "What is the weather in Paris, and what is this?",
        ImageUrl(CAT, vendor_metadata={"detail": "high"}),
    ]

    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0) as client:
            model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))
            agent = Agent(
                model, name=name, instructions="Answer briefly.", tools=[get_weather],
                output_type=NativeOutput(CityWeather), capabilities=[Instrumentation(settings=settings)],
                model_settings={**FRAMEWORK_SETTINGS, "stop_sequences": ["END"],
                                "parallel_tool_calls": False},
            )  # fmt: skip
            await agent.run(question)

    llm_server.script('{"city": "Paris", "temperature_c": 18}')
    try:
        asyncio.run(run())
    finally:
        tracer_provider.shutdown()


def record_langchain(server: RunningServer, llm_server: LLMServer, name: str) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI
    from openinference.instrumentation.langchain import LangChainInstrumentor

    tracer_provider = exporting(server.url, server.headers)
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    chat = ChatOpenAI(model="gpt-4o-mini", base_url=llm_server.base_url, api_key="test", max_retries=0,  # type: ignore[arg-type]
                      stop=["END"], **FRAMEWORK_SETTINGS).bind_tools([get_weather])  # fmt: skip
    try:
        with tracer_provider.get_tracer("app").start_as_current_span(name):
            chat.invoke([SystemMessage("Answer briefly."), HumanMessage([
                {"type": "text", "text": "What is the weather in Paris, and what is this?"},
                {"type": "image_url", "image_url": {"url": CAT, "detail": "high"}},
            ])])  # fmt: skip
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()


def without_detail(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {k: without_detail(v) for k, v in messages.items() if k != "detail"}
    if isinstance(messages, list):
        return [without_detail(v) for v in messages]
    return messages


FRAMEWORKS = {"pydantic-ai": (record_pydantic_ai, {"stop", "parallel_tool_calls", "logit_bias", "messages"}),
              "langchain": (record_langchain, set())}  # fmt: skip


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_agent_frameworks_call_is_replayed_as_sent_where_recorded(
    framework: str, fidelity_server: RunningServer, llm_server: LLMServer
) -> None:
    server = fidelity_server
    record, expected = FRAMEWORKS[framework]
    name = f"framework-{framework}"
    record(server, llm_server, name)
    sent = llm_server.bodies[-1]
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    root = f"invoke_agent {name}" if framework == "pydantic-ai" else name  # its agent span's name
    trace_id = api.get("/api/v1/traces", params={"name": root}).json()["traces"][0]["trace_id"]
    replay = wait_for(api, api.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    replayed = llm_server.bodies[-1]
    fidelity = counted_llm_span(api, replay["result_trace_id"])["attributes"]["tracereplay.replay.fidelity"]
    assert {finding["field"] for finding in fidelity["unknown"]} == expected, fidelity
    for key, value in sent.items():
        if key == "stream" or (key in expected and key != "messages"):
            continue  # how the call was transported; or what the framework did not record
        if key == "messages" and "messages" in expected:  # images without their detail
            assert without_detail(replayed[key]) == without_detail(value)
        else:
            assert replayed[key] == value, (key, replayed.get(key), value)
    assert set(replayed) <= set(sent)
    api.close()


def test_a_response_format_recorded_as_a_class_name_is_not_sent_and_is_named() -> None:
    parameters = {"model": "gpt-4o-mini", "_type": "openai-chat", "temperature": 0.1,
                  "response_format": "<class '__main__.CityWeather'>"}  # fmt: skip
    langchain = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.invocation_parameters": json.dumps(parameters),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
    }
    fields = normalise(langchain)
    assert fields["invocation_parameters"] == {"temperature": 0.1}
    read = {name: fields[name] for name in ("invocation_parameters", "input_messages")}
    recorded = span(attributes=langchain, provider="openai", **read)
    why = "recorded as a class name, without the schema that was sent"
    assert [f.as_dict() for f in assess(recorded)] == [{"field": "response_format", "why": why}]


def test_arguments_that_hand_over_credentials_are_not_replayed_and_are_named() -> None:
    from tracereplay.providers.anthropic_provider import to_anthropic_call
    from tracereplay.providers.base import CompletionRequest

    server = {"type": "url", "url": "https://mcp.example.com", "name": "d"}
    parameters = {"max_tokens": 10, "mcp_servers": [server], "container": "container_1"}
    recorded = span(provider="anthropic", invocation_parameters=parameters,
                    input_messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    assert {f.field for f in assess(recorded)} == {"mcp_servers", "container"}
    call = to_anthropic_call(
        CompletionRequest("claude-haiku-5-5", [{"role": "user", "content": "hi"}], None, parameters)
    )
    assert "mcp_servers" not in call and "container" not in call and "extra_body" not in call
