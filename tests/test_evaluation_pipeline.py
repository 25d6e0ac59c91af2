"""The evaluation pipeline end to end: a replay through the real queue and worker is scored by
every enabled evaluator, its original gets the ones that judge a trace alone, errors are stored
as errors, and running the evaluation again stores nothing twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH
from tests.support.llm_server import Failure, LLMServer
from tests.support.replays import wait_for
from tests.test_replay import agent_trace, replay_settings
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.evals.pipeline import evaluate_replay


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
    evaluator(client, "exact", "exact_match")  # compares with the original: an error on the original
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
    assert set(original) == {"has-paris", "exact", "cheap"}  # comparisons need an original
    assert original["has-paris"]["value"] == 1.0 and original["has-paris"]["data_type"] == "boolean"
    assert replayed["has-paris"]["value"] == 0.0  # the test server echoes the question
    assert replayed["exact"]["value"] == 0.0 and replayed["exact"]["status"] == "scored"
    assert original["exact"]["status"] == "error" and original["exact"]["value"] is None
    assert "not a replay" in original["exact"]["error"]
    assert replayed["same-tools"]["value"] == 1.0  # no tool calls on either side
    assert replayed["same-tools"]["details"]["first_divergent_step"] is None
    assert 0 < replayed["close"]["value"] < 1 and replayed["close"]["data_type"] == "numeric"
    assert replayed["cheap"]["value"] == 1.0
    assert all(score["source"] == "evaluator" and score["config_version"] == 1 for score in replayed.values())

    # The trace detail shows the same scores.
    detail = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
    assert by_name(detail["scores"]).keys() == replayed.keys()

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
