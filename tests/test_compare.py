"""Trace comparison: summary deltas with a direction per metric and a tolerance for "same"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

from tests.otlp_builders import PROTOBUF, llm_attributes, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import LLMServer
from tests.support.replays import wait_for
from tests.test_cli import agent_trace as cli_agent_trace
from tests.test_cli import cli_env, ok, otlp_json, run
from tests.test_evaluation_pipeline import eval_client, evaluated
from tests.test_prompt_replay import SYSTEM_V1, SYSTEM_V2, create_version, prompt_client
from tests.test_prompt_replay import agent_trace as prompt_agent_trace
from tracereplay.compare.align import align_by_ids, align_by_shape
from tracereplay.compare.diffs import output_diff, text_diff, tool_call_diff
from tracereplay.compare.summary import METRICS, summary
from tracereplay.context import AppContext
from tracereplay.ingest.records import SpanRecord

__all__ = ["eval_client", "prompt_client"]  # fixtures shared with the evaluation and prompt tests


def trace(**values: float | None) -> SimpleNamespace:
    return SimpleNamespace(**{metric.name: values.get(metric.name, 0) for metric in METRICS})


def test_slower_but_cheaper_is_worse_on_time_and_better_on_cost() -> None:
    base = trace(duration_ms=1000, total_tokens=800, prompt_tokens=600, completion_tokens=200, cost=0.004,
                 llm_span_count=2, error_count=1)  # fmt: skip
    target = trace(duration_ms=1500, total_tokens=800, prompt_tokens=650, completion_tokens=150, cost=0.001,
                   llm_span_count=3, error_count=0)  # fmt: skip
    deltas = {d.metric: d for d in summary(base, target)}
    assert (deltas["duration_ms"].trend, deltas["duration_ms"].verdict) == ("up", "worse")
    assert deltas["duration_ms"].absolute == 500 and deltas["duration_ms"].relative == 0.5
    assert (deltas["cost"].trend, deltas["cost"].verdict) == ("down", "better")
    assert deltas["cost"].relative is not None and round(deltas["cost"].relative, 2) == -0.75
    assert deltas["total_tokens"].verdict == "same"
    assert deltas["prompt_tokens"].verdict == "worse" and deltas["completion_tokens"].verdict == "better"
    assert (deltas["llm_span_count"].trend, deltas["llm_span_count"].verdict) == ("up", "changed")
    assert deltas["error_count"].verdict == "better"


def test_noise_is_same_and_unknown_stays_unknown() -> None:
    deltas = {
        d.metric: d for d in summary(trace(duration_ms=1000, cost=None), trace(duration_ms=1030, cost=0.2))
    }
    assert (deltas["duration_ms"].trend, deltas["duration_ms"].verdict) == ("same", "same")  # within 5%
    cost = deltas["cost"]
    assert (cost.trend, cost.verdict, cost.absolute, cost.relative) == ("unknown", "unknown", None, None)
    zero = {d.metric: d for d in summary(trace(error_count=0), trace(error_count=2))}["error_count"]
    assert (zero.absolute, zero.relative, zero.verdict) == (2, None, "worse")  # no ratio to 0


def test_texts_differ_word_by_word_and_json_by_structure() -> None:
    words = text_diff("It is sunny in Paris today.", "It is rainy in Paris today, take an umbrella.")
    assert [(s["op"], s["text"]) for s in words["segments"] if s["op"] != "equal"] == [
        ("delete", "sunny"), ("insert", "rainy"),
        ("delete", "today."), ("insert", "today, take an umbrella."),
    ]  # fmt: skip
    assert 0 < words["similarity"] < 1
    before = "".join(s["text"] for s in words["segments"] if s["op"] != "insert")
    assert before == "It is sunny in Paris today."

    structural = output_diff('{"city": "Paris", "forecast": {"temp": 14, "rain": true}}',
                             '{"city": "Paris", "forecast": {"temp": 15}, "advice": "umbrella"}')  # fmt: skip
    assert structural is not None and structural["kind"] == "json"
    assert structural["changed"] == [{"path": "$['forecast']['temp']", "base": 14, "target": 15}]
    assert structural["added"] == [{"path": "$['advice']", "value": "umbrella"}]
    assert structural["removed"] == [{"path": "$['forecast']['rain']", "value": True}]
    assert output_diff("14", "15") == text_diff("14", "15")  # bare values are text
    assert output_diff(None, "x") is None


def test_tool_call_differences() -> None:
    base = [{"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
            {"name": "get_time", "arguments": "{}"}]  # fmt: skip
    target = [{"name": "get_weather", "arguments": '{"unit": "F", "city": "Paris"}'},
              {"name": "search_web", "arguments": '{"q": "Paris"}'}]  # fmt: skip
    calls = tool_call_diff(base, target)
    assert not calls["same"]
    assert calls["removed"] == [{"name": "get_time", "arguments": {}}]
    assert calls["added"] == [{"name": "search_web", "arguments": {"q": "Paris"}}]
    assert calls["changed"][0]["name"] == "get_weather"
    assert calls["changed"][0]["arguments"]["changed"] == [{"path": "$['unit']", "base": "C", "target": "F"}]
    assert tool_call_diff(base[:1], [{"name": "get_weather", "arguments": '{"unit":"C","city":"Paris"}'}])[
        "same"
    ]


def spans_of(trace_id: str, shape: list[tuple[str, str, str | None, int]]) -> list[SpanRecord]:
    """(span id, name, parent, start second) -> records; kind LLM for names starting "llm"."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        SpanRecord(trace_id, span_id, parent, name, start + timedelta(seconds=at),
                   start + timedelta(seconds=at + 1), kind="LLM" if name.startswith("llm") else "CHAIN")
        for span_id, name, parent, at in shape
    ]  # fmt: skip


def test_unrelated_traces_align_by_shape_with_added_and_removed_steps() -> None:
    base = spans_of("a" * 32, [("r", "agent", None, 0), ("1", "llm-plan", "r", 1), ("2", "search", "r", 2),
                               ("3", "llm-answer", "r", 3)])  # fmt: skip
    target = spans_of("b" * 32, [("R", "agent", None, 0), ("X", "llm-plan", "R", 1),
                                 ("Y", "guardrail", "R", 2), ("Z", "llm-answer", "R", 3)])  # fmt: skip
    aligned = align_by_shape(base, target)
    assert [(a.span_id, b.span_id) for a, b in aligned.pairs] == [("r", "R"), ("1", "X"), ("3", "Z")]
    assert [s.name for s in aligned.removed] == ["search"] and [s.name for s in aligned.added] == [
        "guardrail"
    ]


def test_a_replay_aligns_through_its_id_mapping() -> None:
    base = spans_of("a" * 32, [("r", "agent", None, 0), ("1", "llm", "r", 1), ("2", "tool", "r", 2)])
    target = spans_of("b" * 32, [("r'", "agent", None, 0), ("1'", "llm", "r'", 1), ("x", "extra", "r'", 3)])
    aligned = align_by_ids(base, target, lambda span_id: span_id + "'")
    assert [(a.span_id, b.span_id) for a, b in aligned.pairs] == [("r", "r'"), ("1", "1'")]
    assert [s.span_id for s in aligned.removed] == ["2"] and [s.span_id for s in aligned.added] == ["x"]


def pair_detail(client: TestClient, document: dict[str, Any], pair: dict[str, Any]) -> dict[str, Any]:
    """A pair of the comparison document with its diffs in full, as the dashboard asks for it."""
    answer = client.get("/api/v1/compare/spans", params={
        "base": document["base"]["trace_id"], "base_span": pair["base"]["span_id"],
        "target": document["target"]["trace_id"], "target_span": pair["target"]["span_id"],
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_replay_compared_with_its_original_through_the_api(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, _ = eval_client
    created = client.post(
        "/api/v1/evaluators", json={"name": "cheap", "type": "cost_max", "config": {"max_usd": 1}}
    )
    assert created.status_code == 201
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=1000, attributes={"openinference.span.kind": "CHAIN"}),
        span(trace_id, new_span_id(), "ChatCompletion", parent=root, end_ms=600,
             attributes=llm_attributes("mystery-model")),  # no price: its cost is unknown
        span(trace_id, new_span_id(), "lookup", parent=root, start_ms=600, end_ms=900,
             attributes={"openinference.span.kind": "TOOL", "output.value": "Paris"}),
    ]  # fmt: skip
    assert client.post(
        "/v1/traces", content=trace_request(spans).SerializeToString(), headers=PROTOBUF
    ).is_success
    replay_id = client.post(f"/api/v1/traces/{trace_id}/replays", json={"model": "gpt-4o"}).json()[
        "replay_id"
    ]
    assert wait_for(client, replay_id)["status"] == "COMPLETED"
    replay = evaluated(client, replay_id)
    thumbs = {"trace_id": replay["result_trace_id"], "name": "thumbs", "value": True, "source": "human"}
    assert client.post("/api/v1/scores", json=thumbs).status_code == 201

    document = client.get(f"/api/v1/replays/{replay_id}/comparison").json()
    assert document["replay_id"] == replay_id and document["base"]["trace_id"] == trace_id
    summary = {d["metric"]: d for d in document["summary"]}
    assert summary["cost"]["verdict"] == "unknown" and summary["cost"]["base"] is None  # never 0
    assert summary["llm_span_count"]["verdict"] == "same"
    pairs = document["spans"]["pairs"]
    assert len(pairs) == 3 and document["spans"]["added"] == [] and document["spans"]["removed"] == []
    llm = next(pair for pair in pairs if pair["base"]["kind"] == "LLM")
    assert llm["model"] == {"base": "mystery-model", "target": "gpt-4o", "changed": True}
    assert llm["input"] == {"kind": "json", "same": True}
    assert llm["output"] == {"kind": "text", "same": False}
    detail = pair_detail(client, document, llm)
    assert detail["input"]["same"] and detail["model"]["changed"]
    assert detail["output"]["similarity"] < 1
    assert any(s["op"] == "insert" and "Echo" in s["text"] for s in detail["output"]["segments"])
    scores = {row["name"]: row for row in document["scores"]}
    assert scores["cheap"]["base"]["status"] == "error" and scores["cheap"]["verdict"] == "error"
    assert scores["cheap"]["target"]["value"] == 1.0
    assert scores["thumbs"]["base"] is None and scores["thumbs"]["verdict"] == "missing"

    # Two unrelated traces of different shapes: aligned by tree position and names.
    other_id, other_root = new_trace_id(), new_span_id()
    other = [
        span(other_id, other_root, "agent", end_ms=1000, attributes={"openinference.span.kind": "CHAIN"}),
        span(other_id, new_span_id(), "ChatCompletion", parent=other_root, end_ms=500,
             attributes=llm_attributes()),
        span(other_id, new_span_id(), "guardrail", parent=other_root, start_ms=500, end_ms=700,
             attributes={"openinference.span.kind": "GUARDRAIL"}),
    ]  # fmt: skip
    assert client.post(
        "/v1/traces", content=trace_request(other).SerializeToString(), headers=PROTOBUF
    ).is_success
    compared = client.get("/api/v1/compare", params={"base": trace_id, "target": other_id}).json()
    assert compared["replay_id"] is None and len(compared["spans"]["pairs"]) == 2
    assert [s["name"] for s in compared["spans"]["removed"]] == ["lookup"]
    assert [s["name"] for s in compared["spans"]["added"]] == ["guardrail"]
    same = client.get("/api/v1/compare", params={"base": trace_id, "target": trace_id})
    assert same.status_code == 422
    assert client.get("/api/v1/compare", params={"base": trace_id, "target": "0" * 32}).status_code == 404


def test_compare_from_the_cli_as_text_markdown_and_json(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    first_id, first = cli_agent_trace()
    second_id, second = cli_agent_trace(model="gpt-4o")
    for name, spans in (("first", first), ("second", second)):
        export = tmp_path / f"{name}.json"
        export.write_text(json.dumps(otlp_json(spans)))
        ok(env, "import", str(export))
    wide = {**env, "COLUMNS": "200"}
    text = ok(wide, "compare", first_id, second_id)
    assert "duration (ms)" in text and "verdict" in text and "final output" in text
    markdown = ok(env, "compare", first_id, second_id, "--format", "markdown")
    assert "| metric | base | target | change | verdict |" in markdown and "```diff" in markdown
    document = json.loads(ok(env, "compare", first_id, second_id, "--format", "json"))
    assert document["base"]["trace_id"] == first_id and len(document["spans"]["pairs"]) == 3
    bad = run(env, "compare", first_id)
    assert bad.returncode != 0 and "BASE and TARGET" in bad.stderr and "Traceback" not in bad.stderr


def llm_pairs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {pair["base"]["name"]: pair for pair in document["spans"]["pairs"] if "model" in pair}


def test_a_parameter_override_replay_shows_its_parameters_and_outputs(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    client, _ = eval_client
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=1000, attributes={"openinference.span.kind": "CHAIN"}),
        span(trace_id, new_span_id(), "ChatCompletion", parent=root, end_ms=600,
             attributes=llm_attributes("gpt-4o-mini")),
    ]  # fmt: skip
    assert client.post(
        "/v1/traces", content=trace_request(spans).SerializeToString(), headers=PROTOBUF
    ).is_success
    llm_server.script("Paris, the capital of France.")
    created = client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"modelParameters": {"temperature": 0.1, "seed": 7}}
    )
    assert created.status_code == 202, created.text
    replay_id = created.json()["replay_id"]
    assert wait_for(client, replay_id)["status"] == "COMPLETED"
    assert llm_server.bodies[-1]["temperature"] == 0.1 and llm_server.bodies[-1]["seed"] == 7

    document = client.get(f"/api/v1/replays/{replay_id}/comparison").json()
    pair = llm_pairs(document)["ChatCompletion"]
    assert pair["model"]["changed"] is False
    parameters = pair["parameters"]
    assert not parameters["same"]
    assert {change["path"]: (change["base"], change["target"]) for change in parameters["changed"]} == {
        "$['temperature']": (0.3, 0.1)
    }
    assert parameters["added"] == [{"path": "$['seed']", "value": 7}]
    assert pair["input"]["same"] and pair["prompt_version"]["changed"] is False
    detail = pair_detail(client, document, pair)
    assert detail["parameters"] == parameters
    segments = [(s["op"], s["text"]) for s in detail["output"]["segments"]]
    assert segments == [("delete", "Paris."), ("insert", "Paris, the capital of France.")]


def test_a_prompt_version_replay_shows_the_version_and_the_input_that_changed(
    prompt_client: TestClient,
) -> None:
    create_version(prompt_client, SYSTEM_V1)
    second = create_version(prompt_client, SYSTEM_V2)
    trace_id = prompt_agent_trace(prompt_client)
    created = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": second["version_id"]}
    )
    replay = wait_for(prompt_client, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay

    document = prompt_client.get(f"/api/v1/replays/{replay['replay_id']}/comparison").json()
    pairs = llm_pairs(document)
    assert pairs["plan"]["prompt_version"] == {"base": 1, "target": 2, "changed": True}
    assert pairs["answer"]["prompt_version"]["changed"] and not pairs["answer"]["input"]["same"]
    assert pairs["summarise"]["prompt_version"] == {"base": None, "target": None, "changed": False}
    assert pairs["summarise"]["input"]["same"]
    detail = pair_detail(prompt_client, document, pairs["plan"])
    assert detail["input"]["changed"] == [{
        "path": "$[0]['content']",
        "base": "You are a support agent for Acme.",
        "target": "You are a friendly support agent for Acme. Answer in one sentence.",
    }]  # fmt: skip
    unknown = prompt_client.get("/api/v1/compare/spans", params={
        "base": trace_id, "base_span": "0" * 16, "target": replay["result_trace_id"],
        "target_span": pairs["plan"]["target"]["span_id"],
    })  # fmt: skip
    assert unknown.status_code == 404
    assert "span 0000000000000000 not found" in unknown.json()["error"]["message"]


def test_a_replayed_agent_returns_the_replayed_answer_and_ends_sooner(
    eval_client: tuple[TestClient, AppContext], llm_server: LLMServer
) -> None:
    """An agent whose output was its model's answer returns the new answer in the replay (its
    final output is compared, not a copy of the original's), and it ends when its model does."""
    client, _ = eval_client
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=3000,
             attributes={"openinference.span.kind": "AGENT", "output.value": "Paris."}),
        span(trace_id, new_span_id(), "ChatCompletion", parent=root, end_ms=2900,
             attributes=llm_attributes("gpt-4o-mini")),  # answered "Paris." in 2.9 s
        span(trace_id, new_span_id(), "audit", parent=root, start_ms=2900, end_ms=3000,
             attributes={"openinference.span.kind": "TOOL", "output.value": "Paris."}),  # not an ancestor
    ]  # fmt: skip
    assert client.post(
        "/v1/traces", content=trace_request(spans).SerializeToString(), headers=PROTOBUF
    ).is_success
    llm_server.script("Lyon, in fact.")
    replay_id = client.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"]
    replay = wait_for(client, replay_id)
    assert replay["status"] == "COMPLETED", replay
    replayed = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
    by_name = {s["name"]: s for s in replayed["spans"]}
    assert by_name["agent"]["output"] == "Lyon, in fact." and replayed["output"] == "Lyon, in fact."
    assert by_name["audit"]["output"] == "Paris."  # a tool's output is copied as recorded
    assert replayed["duration_ms"] < 1000  # the test server answers at once: the agent ends sooner
    document = client.get(f"/api/v1/replays/{replay_id}/comparison").json()
    assert {d["metric"]: d for d in document["summary"]}["duration_ms"]["verdict"] == "better"
    assert [(s["op"], s["text"]) for s in document["output"]["segments"]] == [
        ("delete", "Paris."),
        ("insert", "Lyon, in fact."),
    ]
