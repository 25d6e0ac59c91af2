"""The evaluation pipeline end to end: a replay through the real queue and worker is scored by
every enabled evaluator, its original gets the ones that judge a trace alone, errors are stored
as errors, and running the evaluation again stores nothing twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH
from tests.otlp_builders import PROTOBUF, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import Failure, LLMServer, Reply, ToolCall
from tests.support.replays import wait_for
from tests.test_replay import agent_trace, replay_settings
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.evals.pipeline import evaluate_replay
from tracereplay.evals.traffic import JUDGE_ENVIRONMENT, evaluate_traffic, sampled


@pytest.fixture
def eval_client(
    settings: Settings, ctx: AppContext, llm_server: LLMServer
) -> Iterator[tuple[TestClient, AppContext]]:
    del ctx  # truncates the PostgreSQL test database first
    configured = replay_settings(settings, llm_server)
    context = AppContext.open(configured)
    with TestClient(create_app(configured, run_worker=True, ctx=context), headers=AUTH) as client:
        yield client, context


def evaluator(client: TestClient, name: str, kind: str, **fields: Any) -> None:
    answer = client.post("/api/v1/evaluators", json={"name": name, "type": kind, **fields})
    assert answer.status_code == 201, answer.text


def evaluated(client: TestClient, replay_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (replay := client.get(f"/api/v1/replays/{replay_id}").json())["evaluations"] != "done":
        assert time.monotonic() < deadline, f"evaluations still {replay['evaluations']}: {replay}"
        time.sleep(0.05)
    return replay  # type: ignore[no-any-return]


def by_name(scores: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {score["name"]: score for score in scores}


def test_a_replay_and_its_original_are_scored_once_per_configuration(
    eval_client: tuple[TestClient, AppContext],
) -> None:
    client, context = eval_client
    evaluator(client, "has-paris", "contains", config={"text": "Paris"})
    evaluator(client, "close", "similarity")
    evaluator(client, "same-tools", "tool_calls_match")
    evaluator(client, "exact", "exact_match")  # without `expected` it compares with the original
    evaluator(client, "cheap", "cost_max", config={"max_usd": 1})
    evaluator(client, "off", "json_valid", enabled=False)
    evaluator(client, "traffic", "latency_max", config={"max_ms": 10}, target="all")

    trace_id, _ = agent_trace(client)
    created = client.post(f"/api/v1/traces/{trace_id}/replays", json={"model": "gpt-4o"})
    assert created.status_code == 202, created.text
    replay = wait_for(client, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay
    replay = evaluated(client, replay["replay_id"])

    replayed, original = by_name(replay["scores"]), by_name(replay["original_scores"])
    assert set(replayed) == {"has-paris", "close", "same-tools", "exact", "cheap"}
    assert set(original) == {"has-paris", "cheap"}  # comparisons need an original
    assert original["has-paris"]["value"] == 1.0 and original["has-paris"]["data_type"] == "boolean"
    assert replayed["has-paris"]["value"] == 0.0  # the test server echoes the question
    assert replayed["exact"]["value"] == 0.0 and replayed["exact"]["status"] == "scored"
    assert replayed["same-tools"]["value"] == 1.0  # no tool calls on either side
    assert replayed["same-tools"]["details"]["first_divergent_step"] is None
    assert 0 < replayed["close"]["value"] < 1 and replayed["close"]["data_type"] == "numeric"
    assert replayed["cheap"]["value"] == 1.0
    assert all(score["source"] == "evaluator" and score["config_version"] == 1 for score in replayed.values())

    # The trace detail and the trace list show the same scores.
    detail = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
    assert by_name(detail["scores"]).keys() == replayed.keys()
    listed = {t["trace_id"]: t for t in client.get("/api/v1/traces").json()["traces"]}
    assert by_name(listed[replay["result_trace_id"]]["scores"]).keys() == replayed.keys()
    assert by_name(listed[trace_id]["scores"]).keys() == {"has-paris", "cheap"}

    # Running again stores nothing (one score per evaluator and configuration version) ...
    assert evaluate_replay(context.sessions, replay["replay_id"]) == 0
    # ... until a configuration changes: its new version scores both sides once more.
    assert (
        client.patch("/api/v1/evaluators/has-paris", json={"config": {"text": "France"}}).status_code == 200
    )
    assert evaluate_replay(context.sessions, replay["replay_id"]) == 2
    versions = [s for s in client.get(f"/api/v1/traces/{trace_id}/scores").json()["scores"]
                if s["name"] == "has-paris"]  # fmt: skip
    assert sorted((s["config_version"], s["value"]) for s in versions) == [(1, 1.0), (2, 0.0)]
    listed = {t["trace_id"]: t for t in client.get("/api/v1/traces").json()["traces"]}
    newest = by_name(listed[trace_id]["scores"])["has-paris"]
    assert (newest["config_version"], newest["value"]) == (2, 0.0)  # a list shows the newest


def test_failed_replays_are_not_evaluated_and_scores_come_from_outside(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, context = eval_client
    evaluator(client, "has-paris", "contains", config={"text": "Paris"})
    trace_id, spans = agent_trace(client)
    llm_server.script(Failure.server_error())
    created = client.post(f"/api/v1/traces/{trace_id}/replays", json={})
    failed = wait_for(client, created.json()["replay_id"])
    assert failed["status"] == "FAILED" and failed["evaluations"] is None
    assert evaluate_replay(context.sessions, failed["replay_id"]) == 0
    assert failed["scores"] == [] and failed["original_scores"] == []

    answer = client.post(
        "/api/v1/scores",
        json={"trace_id": trace_id, "name": "thumbs", "value": True, "source": "human", "reasoning": "good"},
    )
    assert answer.status_code == 201, answer.text
    on_span = client.post(
        "/api/v1/scores",
        json={"trace_id": trace_id, "name": "tone", "value": "polite", "span_id": spans["llm"]},
    )
    assert on_span.status_code == 201 and on_span.json()["data_type"] == "categorical"
    scores = by_name(client.get(f"/api/v1/traces/{trace_id}/scores").json()["scores"])
    assert scores["thumbs"]["value"] == 1.0 and scores["thumbs"]["source"] == "human"
    assert scores["tone"]["label"] == "polite" and scores["tone"]["span_id"] == spans["llm"]
    missing = client.post("/api/v1/scores", json={"trace_id": "0" * 32, "name": "x", "value": 1})
    assert missing.status_code == 404
    unknown_span = client.post(
        "/api/v1/scores", json={"trace_id": trace_id, "name": "x", "value": 1, "span_id": "f" * 16}
    )
    assert unknown_span.status_code == 404 and "span" in unknown_span.json()["error"]["message"]


def traffic_trace(client: TestClient, *, tags: list[str] = (), environment: str | None = None) -> str:  # type: ignore[assignment]
    trace_id, root = new_trace_id(), new_span_id()
    attributes: dict[str, Any] = {"openinference.span.kind": "CHAIN", "output.value": "It is sunny in Paris."}
    if tags:
        attributes["tag.tags"] = list(tags)
    resource = {"deployment.environment.name": environment} if environment else {}
    body = trace_request(
        [span(trace_id, root, "agent", end_ms=100, attributes=attributes)], resource=resource
    )
    assert client.post("/v1/traces", content=body.SerializeToString(), headers=PROTOBUF).status_code == 200
    return trace_id


def test_live_traffic_is_sampled_alike_filtered_and_scored_once(
    eval_client: tuple[TestClient, AppContext],
) -> None:
    client, context = eval_client
    evaluator(client, "paris", "contains", config={"text": "Paris"}, target="all")
    evaluator(client, "half-a", "json_valid", target="all", sampling_rate=0.5)
    evaluator(client, "half-b", "exact_match", config={"expected": "x"}, target="all", sampling_rate=0.5)
    evaluator(client, "prod-only", "json_valid", target="all", filter={"tags": ["prod"]})
    # A comparison has no original on live traffic: refused there, with the reason.
    refused = client.post("/api/v1/evaluators", json={"name": "close", "type": "similarity", "target": "all"})
    assert refused.status_code == 422 and "compares a replay with its original" in refused.text
    evaluator(client, "close", "similarity")
    moved = client.patch("/api/v1/evaluators/close", json={"target": "all"})
    assert moved.status_code == 422
    evaluator(client, "replays-only", "json_valid")
    plain = [traffic_trace(client) for _ in range(30)]
    prod = [traffic_trace(client, tags=["prod"]) for _ in range(5)]
    judged = traffic_trace(client, environment=JUDGE_ENVIRONMENT)

    assert evaluate_traffic(context.sessions, timedelta(hours=1)) == 0  # nothing quiet for an hour yet
    stored = evaluate_traffic(context.sessions, timedelta(0))
    assert evaluate_traffic(context.sessions, timedelta(0)) == 0  # each trace considered once

    scored = {trace_id: by_name(client.get(f"/api/v1/traces/{trace_id}/scores").json()["scores"])
              for trace_id in [*plain, *prod, judged]}  # fmt: skip
    assert scored[judged] == {}
    everyone = [*plain, *prod]
    assert all("paris" in scored[t] and scored[t]["paris"]["value"] == 1.0 for t in everyone)
    half_a = {t for t in everyone if "half-a" in scored[t]}
    half_b = {t for t in everyone if "half-b" in scored[t]}
    assert half_a == half_b == {t for t in everyone if sampled(t, 0.5)}  # the same traces
    assert 5 <= len(half_a) <= 30
    assert {t for t in everyone if "prod-only" in scored[t]} == set(prod)
    assert not any("close" in scored[t] or "replays-only" in scored[t] for t in everyone)
    assert stored == len(everyone) + 2 * len(half_a) + len(prod)


def test_evaluation_on_demand_through_the_queue(eval_client: tuple[TestClient, AppContext]) -> None:
    client, _ = eval_client
    evaluator(client, "paris", "contains", config={"text": "Paris"}, enabled=False)
    chosen = traffic_trace(client, tags=["prod"])
    other = traffic_trace(client)
    queued = client.post("/api/v1/evaluations", json={"filter": {"tag": "prod"}, "evaluators": ["paris"]})
    assert queued.status_code == 202 and queued.json() == {"queued": 1}
    deadline = time.monotonic() + 20
    while not client.get(f"/api/v1/traces/{chosen}/scores").json()["scores"]:
        assert time.monotonic() < deadline, "the on-demand evaluation never ran"
        time.sleep(0.05)
    assert client.get(f"/api/v1/traces/{other}/scores").json()["scores"] == []

    def refused(body: dict[str, Any], status: int) -> str:
        answer = client.post("/api/v1/evaluations", json=body)
        assert answer.status_code == status, answer.text
        return str(answer.json()["error"]["message"])

    assert "no evaluator named nope" in refused({"trace_ids": [chosen], "evaluators": ["nope"]}, 404)
    assert "0" * 32 in refused({"trace_ids": ["0" * 32], "evaluators": ["paris"]}, 404)
    assert "no enabled evaluator" in refused({"trace_ids": [chosen]}, 404)
    assert "unknown filter colour" in refused({"filter": {"colour": "red"}}, 422)
    assert "start_after" in refused({"filter": {"start_after": "yesterday"}}, 422)
    assert "one of them" in refused({"evaluators": ["paris"]}, 422)


def agent_llm(messages: list[dict[str, Any]], output: dict[str, Any]) -> dict[str, Any]:
    """An OpenInference LLM span: its input messages, and one output message (text or a tool call)."""
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o-mini",
        "llm.tools.0.tool.json_schema": json.dumps(
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
        ),
        "llm.output_messages.0.message.role": "assistant",
    }  # fmt: skip
    for index, message in enumerate(messages):
        prefix = f"llm.input_messages.{index}.message"
        attributes[f"{prefix}.role"] = message["role"]
        attributes[f"{prefix}.content"] = message.get("content") or ""
        if message.get("tool_call_id"):
            attributes[f"{prefix}.tool_call_id"] = message["tool_call_id"]
        for position, call in enumerate(message.get("tool_calls") or []):
            attributes[f"{prefix}.tool_calls.{position}.tool_call.id"] = call["id"]
            attributes[f"{prefix}.tool_calls.{position}.tool_call.function.name"] = call["name"]
            attributes[f"{prefix}.tool_calls.{position}.tool_call.function.arguments"] = call["arguments"]
    out = "llm.output_messages.0.message"
    if "tool_call" in output:
        call = output["tool_call"]
        attributes[f"{out}.tool_calls.0.tool_call.id"] = "call_1"
        attributes[f"{out}.tool_calls.0.tool_call.function.name"] = call["name"]
        attributes[f"{out}.tool_calls.0.tool_call.function.arguments"] = call["arguments"]
    else:
        attributes[f"{out}.content"] = output["text"]
    return attributes


def test_tool_calls_match_on_a_recorded_agent_whose_replay_picks_another_tool(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, _ = eval_client
    evaluator(client, "same-tools", "tool_calls_match")
    question = {"role": "user", "content": "Do I need an umbrella in Paris?"}
    call = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    step_two = [question, {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "light rain"}]  # fmt: skip
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=900, attributes={"openinference.span.kind": "AGENT"}),
        span(trace_id, new_span_id(), "plan", parent=root, end_ms=300,
             attributes=agent_llm([question], {"tool_call": call})),
        span(trace_id, new_span_id(), "get_weather", parent=root, start_ms=300, end_ms=400,
             attributes={"openinference.span.kind": "TOOL", "output.value": "light rain"}),
        span(trace_id, new_span_id(), "answer", parent=root, start_ms=400, end_ms=900,
             attributes=agent_llm(step_two, {"text": "Yes, take an umbrella."})),
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200

    def another_model(request: dict[str, Any]) -> Reply:
        # Given the question, this model searches the web; given the tool result, it answers.
        if request["messages"][-1]["role"] == "user":
            return Reply(tool_calls=[ToolCall("search_web", {"query": "Paris weather"})])
        return Reply(text="Yes, bring an umbrella.")

    llm_server.default = another_model
    created = client.post(f"/api/v1/traces/{trace_id}/replays", json={"model": "gpt-4o"})
    assert created.status_code == 202, created.text
    assert wait_for(client, created.json()["replay_id"])["status"] == "COMPLETED"
    replay = evaluated(client, created.json()["replay_id"])
    score = by_name(replay["scores"])["same-tools"]
    assert score["value"] == 0.5  # step 1 diverges, step 2 (no calls on either side) agrees
    assert score["details"]["first_divergent_step"] == 1
    assert score["details"]["f1"] == 0.0
    assert "search_web" in score["reasoning"] and "get_weather" in score["reasoning"]
