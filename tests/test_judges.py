"""Evaluators that call out: an LLM judge against the test LLM server (parsed, unparseable,
failing, previewed, its own call stored where no evaluator scores it), and a Python function
registered through a `tracereplay.evaluators` entry point."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.llm_server import Failure, LLMServer, Reply
from tests.test_evaluation_pipeline import by_name, eval_client, evaluator, traffic_trace
from tracereplay.context import AppContext
from tracereplay.evals.pipeline import EvalServices
from tracereplay.evals.traffic import evaluate_traces, evaluate_traffic

__all__ = ["eval_client"]  # the fixture, shared with the pipeline tests

RUBRIC = "Question: {{input}}\nAnswer: {{output}}\nIs the answer right? Score it."


def judge_config(**extra: Any) -> dict[str, Any]:
    return {"model": "openai:gpt-4o-mini", "rubric": RUBRIC, **extra}


def scores_of(client: TestClient, trace_id: str) -> dict[str, dict[str, Any]]:
    return by_name(client.get(f"/api/v1/traces/{trace_id}/scores").json()["scores"])


def test_an_llm_judge_scores_parses_and_fails_without_a_value(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, context = eval_client
    services = EvalServices(context.providers, context.ingest)
    evaluator(
        client, "judge", "llm_judge", config=judge_config(score={"type": "numeric", "min": 0, "max": 10})
    )
    evaluator(
        client,
        "tone",
        "llm_judge",
        config=judge_config(score={"type": "categorical", "labels": ["ok", "rude"]}),
    )
    evaluator(client, "babbler", "llm_judge", config=judge_config())
    evaluator(client, "down", "llm_judge", config=judge_config())
    evaluator(client, "every-trace", "json_valid", target="all")
    trace_id = traffic_trace(client)

    llm_server.script(
        Reply(text='{"reasoning": "Paris is the capital of France.", "score": 9}'),
        Reply(text='```json\n{"reasoning": "polite", "label": "ok"}\n```'),
        Reply(text="I think the answer is quite good."),
        Failure.server_error(),
    )
    for name in ("judge", "tone", "babbler", "down"):
        assert evaluate_traces(context.sessions, 1, [trace_id], [name], services) == 1
    scores = scores_of(client, trace_id)
    assert (
        scores["judge"]["value"] == 9.0 and scores["judge"]["reasoning"] == "Paris is the capital of France."
    )
    assert scores["tone"]["label"] == "ok" and scores["tone"]["data_type"] == "categorical"
    assert scores["babbler"]["status"] == "error" and scores["babbler"]["value"] is None
    assert "not a JSON object" in scores["babbler"]["error"]
    assert scores["down"]["status"] == "error" and "the judge call failed" in scores["down"]["error"]

    # Asked again, an error is tried again (and replaced); a score is kept.
    llm_server.script(Reply(text='{"reasoning": "fine now", "score": 1}'))
    assert evaluate_traces(context.sessions, 1, [trace_id], ["down", "judge"], services) == 1
    again = client.get(f"/api/v1/traces/{trace_id}/scores").json()["scores"]
    assert [(s["status"], s["value"]) for s in again if s["name"] == "down"] == [("scored", 1.0)]
    assert [s["value"] for s in again if s["name"] == "judge"] == [9.0]

    # The judge saw the rubric filled with the trace, and was asked for JSON at temperature 0.
    asked = llm_server.bodies[0]
    assert "Answer: It is sunny in Paris." in asked["messages"][1]["content"]
    assert asked["temperature"] == 0 and asked["response_format"] == {"type": "json_object"}
    assert '"score": a number from 0 to 10' in asked["messages"][0]["content"]

    # Each judge call is a trace of its own, in the reserved environment no evaluator scores.
    judged = client.get("/api/v1/traces", params={"environment": "tracereplay-judge"}).json()["traces"]
    assert len(judged) == 4  # the failed call returned nothing to store
    evaluate_traffic(context.sessions, timedelta(0), services)
    judge_ids = [t["trace_id"] for t in judged]
    assert evaluate_traces(context.sessions, 1, judge_ids, ["every-trace"], services) == 0  # not even asked
    assert all(scores_of(client, t) == {} for t in judge_ids)
    assert "every-trace" in scores_of(client, trace_id)


def test_a_judge_is_previewed_without_a_score_and_refused_when_misconfigured(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, _ = eval_client
    evaluator(client, "pass-fail", "llm_judge", config=judge_config(score={"type": "boolean"}))
    trace_id = traffic_trace(client)
    llm_server.script(Reply(text='{"reasoning": "right", "passed": true}'))
    tried = client.post("/api/v1/evaluators/pass-fail/preview", json={"trace_id": trace_id})
    assert tried.status_code == 200, tried.text
    assert tried.json()["status"] == "scored" and tried.json()["value"] == 1.0
    assert scores_of(client, trace_id) == {}

    llm_server.script(Reply(text='{"passed": "maybe"}'))
    unsure = client.post("/api/v1/evaluators/pass-fail/preview", json={"trace_id": trace_id}).json()
    assert unsure["status"] == "error" and "no true/false verdict" in unsure["error"]
    assert client.post("/api/v1/evaluators/nope/preview", json={"trace_id": trace_id}).status_code == 404

    def refused(config: dict[str, Any]) -> str:
        answer = client.post("/api/v1/evaluators", json={"name": "j", "type": "llm_judge", "config": config})
        assert answer.status_code == 422, answer.text
        return str(answer.json()["error"]["message"])

    assert "unknown variables colour" in refused(judge_config(rubric="{{colour}} {{output}}"))
    assert "config.model" in refused({"rubric": RUBRIC})
    assert "min < max" in refused(judge_config(score={"type": "numeric", "min": 5, "max": 1}))
    assert "at least two labels" in refused(judge_config(score={"type": "categorical", "labels": ["one"]}))


@pytest.fixture
def installed_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package of the user's, installed the way pip leaves it: a module, and a dist-info
    declaring its entry point."""
    (tmp_path / "my_evals.py").write_text(
        textwrap.dedent("""
        def polite(subject, original, options):
            return options["word"] in (subject.final_output or "")
    """)
    )
    info = tmp_path / "my_evals-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-evals\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tracereplay.evaluators]\npolite = my_evals:polite\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_python_function_from_an_entry_point(
    eval_client: tuple[TestClient, AppContext], installed_function: None
) -> None:
    client, context = eval_client
    evaluator(client, "says-paris", "python", config={"entry_point": "polite", "options": {"word": "Paris"}})
    evaluator(
        client, "says-please", "python", config={"entry_point": "polite", "options": {"word": "please"}}
    )
    trace_id = traffic_trace(client)
    assert evaluate_traces(context.sessions, 1, [trace_id]) == 2
    scores = scores_of(client, trace_id)
    assert scores["says-paris"]["value"] == 1.0 and scores["says-please"]["value"] == 0.0
    missing = client.post(
        "/api/v1/evaluators", json={"name": "x", "type": "python", "config": {"entry_point": "nope"}}
    )
    assert missing.status_code == 422 and "polite" in missing.json()["error"]["message"]
