"""One call, one count: the Anthropic SDK (2.x) records each call in its own span, beside the
instrumentation library's (inside OpenInference's, next to OpenLLMetry's). An app makes two
calls through both; the stored trace counts two calls and their tokens once, before and after
a replay with another model, and the replay asks the model twice, not four times.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import RunningServer, serving
from tests.support.llm_server import LLMServer, Reply
from tests.support.otel import exporting, unwrap_leftovers
from tests.support.replays import wait_for
from tracereplay.config import Settings
from tracereplay.ingest.same_call import CallSpan, same_calls
from tracereplay_sdk import capturing_http_client


@pytest.fixture
def claude_server(settings: Settings, tmp_path: Path, llm_server: LLMServer) -> Iterator[RunningServer]:
    env = {
        "TRACEREPLAY_ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
        "TRACEREPLAY_ANTHROPIC_BASE_URL": llm_server.anthropic_base_url,
        "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
    }
    with serving(settings, tmp_path, env) as server:
        yield server


def instrumentor(library: str) -> Any:
    if library == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        return AnthropicInstrumentor()
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as TraceloopInstrumentor

    return TraceloopInstrumentor()


@contextmanager
def claude_app(
    server: RunningServer, llm_server: LLMServer, library: str, name: str, *, capture: bool = False
) -> Iterator[anthropic.Anthropic]:
    """An app's anthropic client, `library` instrumenting it and the SDK's own telemetry on (as by
    default), inside the app's span `name`; its spans are exported to `server` on exit."""
    tracer_provider = exporting(server.url, server.headers, {"service.name": f"claude-{library}"})
    tool = instrumentor(library)
    tool.instrument(tracer_provider=tracer_provider)
    client = anthropic.Anthropic(
        base_url=llm_server.anthropic_base_url, api_key="test", max_retries=0,
        http_client=capturing_http_client(sdk="anthropic") if capture else None,
        open_telemetry={"tracer_provider": tracer_provider},
    )  # fmt: skip
    try:
        with tracer_provider.get_tracer("app").start_as_current_span(name):
            yield client
    finally:
        client.close()
        tool.uninstrument()
        unwrap_leftovers("anthropic")
        tracer_provider.shutdown()


def record_two_calls(server: RunningServer, llm_server: LLMServer, library: str) -> None:
    llm_server.script(
        Reply("Sunny, 18C.", prompt_tokens=20, completion_tokens=5),
        Reply("Take sunglasses.", prompt_tokens=30, completion_tokens=3),
    )
    with claude_app(server, llm_server, library, "weather-agent") as client:
        for question in ("Weather in Paris?", "What should I take?"):
            client.messages.create(
                model="claude-sonnet-4-6", max_tokens=100, system="Be brief.",
                messages=[{"role": "user", "content": question}],
            )  # fmt: skip


def llm_spans(api: httpx.Client, trace_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    trace = api.get(f"/api/v1/traces/{trace_id}").json()
    return trace, [span for span in trace["spans"] if span["kind"] == "LLM"]


def assert_counted_once(
    trace: dict[str, Any], spans: list[dict[str, Any]], prompt: int, completion: int, model: str
) -> None:
    assert len(spans) == 4  # each call recorded twice, by the library and by the SDK
    counted = [span for span in spans if span["same_call_as"] is None]
    restating = [span for span in spans if span["same_call_as"] is not None]
    assert len(counted) == 2 and len(restating) == 2
    by_id = {span["span_id"]: span for span in spans}
    for span in restating:
        other = by_id[span["same_call_as"]]
        assert other["same_call_as"] is None and other["input_messages"]  # the library's record
        assert (span["prompt_tokens"], span["completion_tokens"]) == (
            other["prompt_tokens"], other["completion_tokens"]
        )  # fmt: skip
        assert span["model"] == other["model"] == model
    assert trace["llm_span_count"] == 2
    assert (trace["prompt_tokens"], trace["completion_tokens"]) == (prompt, completion)
    if all(span["cost"] is not None for span in counted):
        assert trace["cost"] == pytest.approx(sum(span["cost"] for span in counted))


@pytest.mark.parametrize("library", ["openinference", "openllmetry"])
def test_a_call_the_sdk_and_a_library_both_record_counts_once(
    library: str, claude_server: RunningServer, llm_server: LLMServer
) -> None:
    record_two_calls(claude_server, llm_server, library)
    assert len(llm_server.bodies) == 2
    api = httpx.Client(base_url=claude_server.url, headers=claude_server.headers, timeout=30)
    listed = api.get("/api/v1/traces", params={"name": "weather-agent"}).json()["traces"]
    (summary,) = listed
    assert summary["llm_span_count"] == 2 and summary["total_tokens"] == 58
    trace, spans = llm_spans(api, summary["trace_id"])
    assert_counted_once(trace, spans, 50, 8, "claude-sonnet-4-6")

    llm_server.script(
        Reply("Sunny.", prompt_tokens=11, completion_tokens=2),
        Reply("Sunglasses.", prompt_tokens=13, completion_tokens=4),
    )
    created = api.post(f"/api/v1/traces/{summary['trace_id']}/replays", json={"model": "claude-haiku-5-5"})
    assert created.status_code == 202, created.text
    replay = wait_for(api, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    assert len(llm_server.bodies) == 4  # two calls asked again, not four
    replayed, replayed_spans = llm_spans(api, replay["result_trace_id"])
    assert_counted_once(replayed, replayed_spans, 24, 6, "claude-haiku-5-5")
    answers = {span["span_id"]: span["output_messages"] for span in replayed_spans}
    for span in replayed_spans:  # the SDK's record says what the replayed call answered
        if span["same_call_as"]:
            assert span["output_messages"] == answers[span["same_call_as"]]
    api.close()


LIB, SDK = "openinference.instrumentation.anthropic", "com.anthropic.sdk.python"


def call(span_id: str, parent: str | None, start: int, end: int, **fields: Any) -> CallSpan:
    """An LLM span; by default recorded by the SDK (another `source` is another instrumentation)."""
    values: dict[str, Any] = {"model": "claude-sonnet-4-6", "prompt_tokens": 20, "completion_tokens": 5,
                              "detail": 0, "source": SDK, "failed": False, **fields}  # fmt: skip
    recorded = f"{values['detail']}:{values['source']}"
    return CallSpan(span_id, parent, values["model"], start, end, values["prompt_tokens"],
                    values["completion_tokens"], recorded, values["failed"])  # fmt: skip


def test_calls_that_only_look_alike_stay_two() -> None:
    # A library's span holding the SDK's: one call, counted through the span with the messages.
    lib = call("lib", "app", 0, 10, detail=1, source=LIB)
    assert same_calls([lib, call("sdk", "lib", 1, 9)]) == {"sdk": "lib"}
    # The reverse nesting: still the span with the messages; the one holding the captured body first.
    assert same_calls([call("sdk", "app", 0, 10), call("lib", "sdk", 1, 9, detail=1, source=LIB)]) == {
        "sdk": "lib"
    }
    assert same_calls([lib, call("sdk", "lib", 1, 9, detail=2)]) == {"lib": "sdk"}
    # A dated release, as a response names the model, is the same model; a smaller model is not.
    dated = call("lib", "app", 0, 10, detail=1, source=LIB, model="claude-sonnet-4-6-20260101")
    assert same_calls([dated, call("sdk", "lib", 1, 9)]) == {"sdk": "lib"}
    assert (
        same_calls(
            [call("a", "app", 0, 10, model="gpt-4o", source=LIB), call("b", "a", 1, 9, model="gpt-4o-mini")]
        )
        == {}
    )
    # One library never records one call twice: two calls made at once with one prompt stay two,
    # as do a failed attempt and its retry.
    at_once = [call("a", "app", 0, 10, detail=1), call("b", "app", 1, 9, detail=1)]
    assert same_calls(at_once) == {}
    assert same_calls([lib, call("sdk", "lib", 1, 9, failed=True)]) == {}
    # Side by side with other counts, or without counts to compare: two calls.
    assert same_calls([call("a", "app", 0, 10, source=LIB), call("b", "app", 1, 9, prompt_tokens=7)]) == {}
    assert same_calls([call("a", "app", 0, 10, source=LIB), call("b", "app", 1, 9, prompt_tokens=None)]) == {}
    # One after the other under one agent, or another model inside: separate calls.
    assert same_calls([call("a", "app", 0, 5, source=LIB), call("b", "app", 6, 9)]) == {}
    assert same_calls([call("a", "app", 0, 10, source=LIB), call("b", "a", 1, 9, model="gpt-4o")]) == {}
    # A framework's span, the library's inside, the SDK's (holding the captured body) inside that:
    # one call, counted once, through the span that holds the most of the request, in any order.
    framework = call("framework", "app", 0, 10, detail=1, source="openinference.instrumentation.langchain")
    chain = [
        framework,
        call("lib", "framework", 1, 9, detail=1, source=LIB),
        call("sdk", "lib", 2, 8, detail=2),
    ]
    assert same_calls(chain) == same_calls(chain[::-1]) == {"framework": "sdk", "lib": "sdk"}
    # A span that names itself as its parent is no pair.
    assert same_calls([call("a", "a", 0, 10), call("b", "app", 20, 30, source=LIB)]) == {}
