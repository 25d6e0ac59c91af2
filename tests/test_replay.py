"""Replays through the API against the loopback OpenAI-compatible server through the real
`openai` SDK, on SQLite and PostgreSQL, with the embedded, Redis and PostgreSQL queues (the
consumer threads run in the app either way; separate worker processes are in test_workers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from tests.conftest import AUTH
from tests.otlp_builders import PROTOBUF, llm_attributes, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import Failure, LLMServer, Reply
from tests.support.replays import wait_for
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.replay.timeline import TimedSpan, project


def replay_settings(settings: Settings, llm_server: LLMServer, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "openai_api_key": SecretStr("sk-test-not-a-real-key"),
            "openai_base_url": llm_server.base_url,
            "provider_max_retries": 0,
            "provider_timeout_seconds": 5.0,
            **extra,
        }
    )


@pytest.fixture(params=["embedded-queue", "redis-queue", "postgresql-queue"])
def queue_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "embedded-queue":
        return None
    return str(request.getfixturevalue(request.param.replace("-", "_")))


@pytest.fixture
def replay_client(
    settings: Settings, ctx: AppContext, llm_server: LLMServer, queue_url: str | None
) -> Iterator[TestClient]:
    """The app with its job consumer and an OpenAI provider pointed at the test server."""
    del ctx  # truncates the PostgreSQL test database first
    configured = replay_settings(settings, llm_server, queue_url=queue_url)
    context = AppContext.open(configured)
    with TestClient(create_app(configured, run_worker=True, ctx=context), headers=AUTH) as client:
        yield client


def agent_trace(client: TestClient, *, llm_input: bool = True) -> tuple[str, dict[str, str]]:
    """A CHAIN root with an LLM span (temperature 0.3, max_tokens 64) and a TOOL span after it."""
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    attributes = {
        **llm_attributes("gpt-4o-mini"),
        "llm.invocation_parameters": '{"temperature": 0.3, "max_tokens": 64}',
    }
    if not llm_input:
        attributes = {k: v for k, v in attributes.items() if not k.startswith("llm.input_messages")}
    spans = [
        span(trace_id, root, "agent", end_ms=1000, attributes={"openinference.span.kind": "CHAIN",
                                                               "input.value": "capital of France?"}),
        span(trace_id, llm, "ChatCompletion", parent=root, start_ms=0, end_ms=600, attributes=attributes),
        span(trace_id, tool, "lookup", parent=root, start_ms=600, end_ms=900,
             attributes={"openinference.span.kind": "TOOL", "input.value": "France",
                         "output.value": "Paris"}),
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    return trace_id, {"root": root, "llm": llm, "tool": tool}


def test_model_and_parameter_overrides(replay_client: TestClient, llm_server: LLMServer) -> None:
    trace_id, ids = agent_trace(replay_client)
    llm_server.script(Reply("Paris, of course.", prompt_tokens=21, completion_tokens=4))
    response = replay_client.post(
        f"/api/v1/traces/{trace_id}/replays",
        json={"model": "openai:gpt-4.1-nano", "modelParameters": {"temperature": 0, "max_tokens": None}},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    replay = wait_for(replay_client, response.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    assert replay["progress"] == "1/1 LLM spans"

    sent = llm_server.bodies[-1]
    assert sent["model"] == "gpt-4.1-nano"
    assert sent["temperature"] == 0
    assert "max_tokens" not in sent
    assert sent["messages"] == [{"role": "user", "content": "What is the capital of France?"}]

    result = replay_client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
    original = replay_client.get(f"/api/v1/traces/{trace_id}").json()
    assert result["source_trace_id"] == trace_id
    assert sorted((s["name"], s["kind"]) for s in result["spans"]) == sorted(
        (s["name"], s["kind"]) for s in original["spans"]
    )
    assert len(result["tree"]) == 1 and len(result["tree"][0]["children"]) == 2
    llm = next(s for s in result["spans"] if s["kind"] == "LLM")
    assert llm["model"] == "gpt-4.1-nano"
    assert llm["invocation_parameters"] == {"temperature": 0}
    assert llm["output_messages"][0]["content"] == "Paris, of course."
    assert (llm["prompt_tokens"], llm["completion_tokens"]) == (21, 4)
    tool = next(s for s in result["spans"] if s["kind"] == "TOOL")
    assert (tool["input"], tool["output"]) == ("France", "Paris")
    assert tool["attributes"]["tracereplay.source_span_id"] == ids["tool"]
    assert replay["result"]["total_tokens"] == 25

    history = replay_client.get(f"/api/v1/traces/{trace_id}/replays").json()["replays"]
    assert [h["replay_id"] for h in history] == [replay["replay_id"]]
    assert result["replay_id"] == replay["replay_id"]
    assert replay_client.get(f"/api/v1/traces/{trace_id}").json()["replays"] == [replay["replay_id"]]


def test_a_span_moved_to_another_provider_keeps_only_parameters_it_understands(
    replay_client: TestClient, llm_server: LLMServer
) -> None:
    trace_id, llm = new_trace_id(), new_span_id()
    attributes = {
        **llm_attributes("claude-3-5-haiku-latest"),
        "llm.provider": "anthropic",
        "llm.invocation_parameters": '{"temperature": 0.2, "top_k": 5, "max_tokens": 50}',
    }
    body = trace_request([span(trace_id, llm, "claude", attributes=attributes)]).SerializeToString()
    assert replay_client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200

    # Anthropic's top_k would be refused by OpenAI; the replay's own parameters always go.
    for overrides, expected in [({}, None), ({"top_k": 3}, 3)]:
        request = {"model": "openai:gpt-4o-mini", "modelParameters": overrides}
        response = replay_client.post(f"/api/v1/traces/{trace_id}/replays", json=request)
        replay = wait_for(replay_client, response.json()["replay_id"])
        assert replay["status"] == "COMPLETED", replay
        sent = llm_server.bodies[-1]
        assert (sent["temperature"], sent["max_tokens"], sent.get("top_k")) == (0.2, 50, expected)
        result = replay_client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
        assert result["spans"][0]["invocation_parameters"].get("top_k") == expected


def test_every_validation_error_is_a_4xx_before_enqueueing(
    replay_client: TestClient, llm_server: LLMServer
) -> None:
    trace_id, _ = agent_trace(replay_client)
    unknown = replay_client.post(f"/api/v1/traces/{new_trace_id()}/replays", json={})
    assert unknown.status_code == 404
    no_input_trace, _ = agent_trace(replay_client, llm_input=False)
    no_input = replay_client.post(f"/api/v1/traces/{no_input_trace}/replays", json={})
    assert no_input.status_code == 422
    assert "no recorded input messages" in no_input.json()["error"]["message"]
    bad_model = replay_client.post(f"/api/v1/traces/{trace_id}/replays", json={"model": "no-such-model-xyz"})
    assert bad_model.status_code == 422
    no_key = replay_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"model": "anthropic:claude-3-5-haiku"}
    )
    assert no_key.status_code == 422
    assert "ANTHROPIC_API_KEY" in no_key.json()["error"]["message"]
    params = replay_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"modelParameters": {"temperature": 7, "max_tokens": -1}}
    )
    assert params.status_code == 422
    assert (
        "temperature" in params.json()["error"]["message"]
        and "max_tokens" in params.json()["error"]["message"]
    )
    template = replay_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": "v7"}
    )
    assert template.status_code == 422
    assert template.json()["error"]["message"] == (
        "no prompt version with id 'v7' in this project; GET /api/v1/prompts/NAME/versions lists a prompt's "
        "version ids"
    )
    assert replay_client.get(f"/api/v1/traces/{trace_id}/replays").json()["replays"] == []
    assert llm_server.bodies == []


def test_provider_failure_fails_the_replay_and_keeps_the_partial_trace(
    replay_client: TestClient, llm_server: LLMServer
) -> None:
    trace_id, _ = agent_trace(replay_client)
    llm_server.script(Failure.server_error("model exploded"))
    response = replay_client.post(f"/api/v1/traces/{trace_id}/replays", json={})
    replay = wait_for(replay_client, response.json()["replay_id"])
    assert replay["status"] == "FAILED"
    assert replay["error"].startswith("1 of 1 LLM spans failed")
    result = replay_client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
    llm = next(s for s in result["spans"] if s["kind"] == "LLM")
    assert llm["status_code"] == "ERROR"
    assert "sk-test-not-a-real-key" not in (llm["status_message"] or "") + replay["error"]


def test_cancel(settings: Settings, ctx: AppContext) -> None:
    del ctx  # truncates the PostgreSQL test database first
    configured = settings.model_copy(
        update={"openai_api_key": SecretStr("sk-test"), "openai_base_url": "http://127.0.0.1:9/v1"}
    )
    context = AppContext.open(configured)
    # No worker in this app: the replay stays PENDING until cancelled.
    with TestClient(create_app(configured, ctx=context), headers=AUTH) as client:
        trace_id, _ = agent_trace(client)
        replay_id = client.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"]
        cancelled = client.post(f"/api/v1/replays/{replay_id}/cancel")
        assert cancelled.json()["status"] == "CANCELLED"
        again = client.post(f"/api/v1/replays/{replay_id}/cancel")
        assert again.status_code == 409
        assert "already CANCELLED" in again.json()["error"]["message"]
        assert client.get(f"/api/v1/replays/{new_span_id()}").status_code == 404


def test_timeline_shifts_later_spans_and_stretches_parents() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    spans = [
        TimedSpan("root", None, t0, t0 + 1000 * ms),
        TimedSpan("llm1", "root", t0, t0 + 400 * ms, new_duration=900 * ms),  # 500 ms slower
        TimedSpan("tool", "root", t0 + 400 * ms, t0 + 500 * ms),
        TimedSpan("llm2", "root", t0 + 500 * ms, t0 + 800 * ms, new_duration=100 * ms),  # 200 ms faster
        TimedSpan("end", "root", t0 + 800 * ms, t0 + 1000 * ms),
    ]
    timeline = project(spans)
    assert timeline["llm1"] == (t0, t0 + 900 * ms)
    assert timeline["tool"] == (t0 + 900 * ms, t0 + 1000 * ms)
    assert timeline["llm2"] == (t0 + 1000 * ms, t0 + 1100 * ms)
    assert timeline["end"] == (t0 + 1100 * ms, t0 + 1300 * ms)
    assert timeline["root"] == (t0, t0 + 1300 * ms)


def test_timeline_shrinks_a_parent_whose_model_answered_sooner() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    spans = [
        TimedSpan("agent", None, t0, t0 + 3000 * ms),
        TimedSpan("plan", "agent", t0, t0 + 2400 * ms, new_duration=100 * ms),  # 2.3 s faster
        TimedSpan("tool", "agent", t0 + 2400 * ms, t0 + 2500 * ms),
        TimedSpan("answer", "agent", t0 + 2500 * ms, t0 + 3000 * ms, new_duration=500 * ms),
    ]
    timeline = project(spans)
    assert timeline["tool"] == (t0 + 100 * ms, t0 + 200 * ms)  # keeps its 100 ms
    assert timeline["answer"] == (t0 + 200 * ms, t0 + 700 * ms)
    assert timeline["agent"] == (t0, t0 + 700 * ms)  # the application felt 2.3 s less


def test_timeline_keeps_a_tool_that_ran_beside_a_faster_model() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    spans = [
        TimedSpan("root", None, t0, t0 + 10_000 * ms),
        TimedSpan("llm", "root", t0, t0 + 8000 * ms, new_duration=2000 * ms),  # 6 s faster
        TimedSpan("tool", "root", t0 + 1000 * ms, t0 + 9000 * ms),  # ran beside it
    ]
    timeline = project(spans)
    assert timeline["tool"] == (t0 + 1000 * ms, t0 + 9000 * ms)  # still 8 s
    assert timeline["root"] == (t0, t0 + 10_000 * ms)  # ends its 1 s tail after the tool


def test_model_catalog_lists_configured_models_with_prices(replay_client: TestClient) -> None:
    models = replay_client.get("/api/v1/models").json()["models"]
    by_name = {m["model"]: m for m in models}
    assert "openai:gpt-4o-mini" in by_name, sorted(by_name)
    assert by_name["openai:gpt-4o-mini"]["input_price_per_mtok"] > 0
    assert by_name["openai:gpt-4o-mini"]["price_source"] == "genai-prices"
    assert not any(m["provider"] == "anthropic" for m in models)  # no key configured


def test_ten_replays_never_run_more_than_three_at_once(
    replay_client: TestClient, llm_server: LLMServer
) -> None:
    llm_server.latency = 0.4
    trace_id, _ = agent_trace(replay_client)
    ids = [
        replay_client.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"]
        for _ in range(10)
    ]
    peak = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = [
            s["status"] for s in replay_client.get(f"/api/v1/traces/{trace_id}/replays").json()["replays"]
        ]
        peak = max(peak, statuses.count("RUNNING"))
        if all(status == "COMPLETED" for status in statuses):
            break
        time.sleep(0.02)
    assert statuses == ["COMPLETED"] * 10, statuses
    assert 2 <= peak <= 3, peak
    assert len(llm_server.bodies) == 10
    assert len({replay_client.get(f"/api/v1/replays/{i}").json()["result_trace_id"] for i in ids}) == 10


def test_sweeper_requeues_orphans_and_gives_up_on_dead_workers(ctx: AppContext) -> None:
    from tracereplay.db.models import Project, Replay, Trace
    from tracereplay.replay.sweeper import sweep_replays

    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        project = Project(name="sweep")
        session.add(project)
        session.flush()
        trace = Trace(
            project_rowid=project.id, trace_id=new_trace_id(), span_count=0, llm_span_count=0, error_count=0
        )
        session.add(trace)
        session.flush()

        def replay(
            name: str, status: str, attempts: int, age: timedelta, heartbeat: timedelta | None
        ) -> None:
            session.add(
                Replay(replay_id=name, project_rowid=project.id, source_trace_rowid=trace.id, status=status,
                       overrides={}, llm_spans_total=1, llm_spans_done=0, llm_spans_failed=0,
                       attempts=attempts, created_at=now - age,
                       heartbeat_at=now - heartbeat if heartbeat else None)
            )  # fmt: skip

        replay("stalled", "RUNNING", 1, timedelta(minutes=5), timedelta(minutes=2))
        replay("exhausted", "RUNNING", 3, timedelta(minutes=5), timedelta(minutes=2))
        replay("alive", "RUNNING", 1, timedelta(minutes=5), timedelta(seconds=2))
        replay("orphan", "PENDING", 0, timedelta(minutes=5), None)
        replay("fresh", "PENDING", 0, timedelta(seconds=1), None)
        replay("done", "COMPLETED", 1, timedelta(minutes=5), timedelta(minutes=5))

    enqueued: list[str] = []
    result = sweep_replays(ctx.sessions, enqueued.append)
    assert sorted(enqueued) == ["orphan", "stalled"]
    assert result.failed == ["exhausted"]
    with ctx.sessions() as session:
        status = dict(session.execute(select(Replay.replay_id, Replay.status)).all())
    assert status == {"stalled": "PENDING", "exhausted": "FAILED", "alive": "RUNNING", "orphan": "PENDING",
                      "fresh": "PENDING", "done": "COMPLETED"}  # fmt: skip


def test_tool_calling_span_replayed_on_anthropic_after_a_rate_limit(
    settings: Settings, ctx: AppContext, llm_server: LLMServer
) -> None:
    del ctx  # truncates the PostgreSQL test database first
    configured = replay_settings(
        settings,
        llm_server,
        anthropic_api_key=SecretStr("sk-ant-test"),
        anthropic_base_url=llm_server.anthropic_base_url,
        provider_max_retries=2,
    )
    context = AppContext.open(configured)
    with TestClient(create_app(configured, run_worker=True, ctx=context), headers=AUTH) as client:
        trace_id, root, llm = new_trace_id(), new_span_id(), new_span_id()
        attributes = {
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
            "llm.invocation_parameters":
                '{"temperature": 0.2, "top_p": 0.9, "max_tokens": 99, "seed": 7, "repetition_penalty": 1.1}',
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "You are a weather bot.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Weather in Paris?",
            "llm.input_messages.2.message.role": "assistant",
            "llm.input_messages.2.message.tool_calls.0.tool_call.id": "call_1",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "get_weather",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
            "llm.input_messages.3.message.role": "tool",
            "llm.input_messages.3.message.tool_call_id": "call_1",
            "llm.input_messages.3.message.content": "18C and sunny",
            "llm.tools.0.tool.json_schema": '{"type": "function", "function": {"name": "get_weather", '
            '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}',
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Sunny, 18C.",
        }  # fmt: skip
        spans = [
            span(trace_id, root, "agent", end_ms=500, attributes={"openinference.span.kind": "AGENT"}),
            span(trace_id, llm, "ChatCompletion", parent=root, end_ms=400, attributes=attributes),
        ]
        body = trace_request(spans).SerializeToString()
        assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        llm_server.script(Failure.rate_limited(retry_after=0.01), Reply("It is sunny and 18C in Paris."))
        response = client.post(
            f"/api/v1/traces/{trace_id}/replays", json={"model": "anthropic:claude-3-5-haiku-latest"}
        )
        assert response.status_code == 202, response.text
        replay = wait_for(client, response.json()["replay_id"])
        assert replay["status"] == "COMPLETED", replay
        assert len(llm_server.requests) == 2  # the 429, then the retry
        sent = llm_server.bodies[-1]
        assert sent["model"] == "claude-3-5-haiku-latest"
        # Moved from OpenAI: sampling settings go, what the Messages API lacks does not.
        assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.9, 99)
        assert "seed" not in sent and "repetition_penalty" not in sent
        assert sent["system"] in (
            "You are a weather bot.",
            [{"type": "text", "text": "You are a weather bot."}],
        )
        assert sent["tools"][0]["name"] == "get_weather"
        blocks = [
            block for message in sent["messages"] for block in message["content"] if isinstance(block, dict)
        ]
        assert any(b.get("type") == "tool_use" and b.get("id") == "call_1" for b in blocks)
        assert any(b.get("type") == "tool_result" and b.get("tool_use_id") == "call_1" for b in blocks)
        result = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
        replayed = next(s for s in result["spans"] if s["kind"] == "LLM")
        assert replayed["provider"] == "anthropic"
        assert replayed["output_messages"][0]["content"] == "It is sunny and 18C in Paris."
        assert replayed["input_messages"][3] == {
            "role": "tool",
            "content": "18C and sunny",
            "tool_call_id": "call_1",
        }
        agent = next(s for s in result["spans"] if s["kind"] == "AGENT")
        assert agent["name"] == "agent"
