"""The built-in evaluator types on traces shaped like recorded agents: output checks, the
comparisons with an original, thresholds, and tool-call agreement step by step."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tracereplay.errors import Unprocessable
from tracereplay.evals.builtin import BUILTIN
from tracereplay.evals.subjects import EvaluationError, Outcome, Subject
from tracereplay.ingest.records import SpanRecord

START = datetime(2026, 1, 2, tzinfo=UTC)


def step(index: int, calls: list[tuple[str, Any]] = (), text: str | None = None) -> SpanRecord:  # type: ignore[assignment]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{n}",
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
            for n, (name, args) in enumerate(calls)
        ]
    at = START + timedelta(seconds=index)
    return SpanRecord("t" * 32, f"{index:016x}", "root", f"step {index}", at, at, kind="LLM",
                      output_messages=[message])  # fmt: skip


def agent(*steps: SpanRecord, output: str | None = None, **totals: Any) -> Subject:
    return Subject("t" * 32, list(steps), output=output, **totals)


def judge(kind: str, config: dict[str, Any], subject: Subject, original: Subject | None = None) -> Outcome:
    evaluator = BUILTIN[kind]
    evaluator.check(config)
    return evaluator.evaluate(config, subject, original)


def test_output_checks() -> None:
    answer = agent(step(0, text="It is 14°C in Paris, take an umbrella."))
    assert answer.final_output == "It is 14°C in Paris, take an umbrella."
    assert judge("contains", {"text": ["umbrella", "paris"], "case_sensitive": False}, answer).boolean
    missing = judge("contains", {"text": ["umbrella", "coat"]}, answer)
    assert missing.boolean is False and missing.details["missing"] == ["coat"]
    assert judge("contains", {"text": ["umbrella", "coat"], "all": False}, answer).boolean
    assert judge("regex", {"pattern": r"\d+°C"}, answer).boolean
    assert judge("regex", {"pattern": r"snow", "must_match": False}, answer).boolean
    assert judge("exact_match", {"expected": " it is 14°c in paris, take an umbrella. ",
                                 "case_sensitive": False}, answer).boolean  # fmt: skip
    # Without `expected`, a replay is compared with its original; the root output wins.
    original = agent(step(0, text="ignored"), output="It is 14°C in Paris, take an umbrella.")
    assert judge("exact_match", {}, answer, original).boolean
    with pytest.raises(EvaluationError, match="not a replay"):
        judge("exact_match", {}, answer)
    with pytest.raises(EvaluationError, match="no final output"):
        judge("contains", {"text": "x"}, agent(step(0, calls=[("get_weather", {})])))


def test_structured_output_checks() -> None:
    before = agent(output='{"city": "Paris", "forecast": {"temp": 14, "rain": true}}')
    fenced = agent(output='```json\n{"city": "Paris", "forecast": {"temp": 15, "rain": false}}\n```')
    renamed = agent(output='{"city": "Paris", "forecast": {"temperature": 15}}')
    prose = agent(output="Paris: 14°C")
    assert judge("json_valid", {}, fenced).boolean
    invalid = judge("json_valid", {}, prose)
    assert invalid.boolean is False and "not JSON" in (invalid.reasoning or "")
    assert judge("json_keys_match_original", {}, fenced, before).boolean  # values differ, keys agree
    keys = judge("json_keys_match_original", {}, renamed, before)
    assert keys.boolean is False
    assert keys.details == {"missing": ["forecast.rain", "forecast.temp"], "added": ["forecast.temperature"]}

    schema = {"type": "object", "required": ["city", "forecast"],
              "properties": {"forecast": {"type": "object", "required": ["temp"]}}}  # fmt: skip
    assert judge("json_schema", {"schema": schema}, fenced).boolean
    failed = judge("json_schema", {"schema": schema}, renamed)
    assert failed.boolean is False and "forecast: 'temp' is a required property" in (failed.reasoning or "")


def test_similarity_to_the_original() -> None:
    before = agent(output="It is sunny in Paris today.")
    assert judge(
        "similarity", {}, agent(output="today it is sunny in Paris."), before
    ).value == pytest.approx(1.0, abs=0.05)
    far = judge("similarity", {"method": "ratio", "threshold": 0.8}, agent(output="Bring a coat."), before)
    assert far.type == "numeric" and far.value is not None and far.value < 0.5
    assert "below 0.8" in (far.reasoning or "")


def test_a_pattern_that_backtracks_on_untrusted_output_is_stopped() -> None:
    hostile = agent(output="a" * 40 + "!")
    with pytest.raises(EvaluationError, match="took more than"):
        judge("regex", {"pattern": r"^(a|aa)+$"}, hostile)


def test_thresholds_and_unknown_cost() -> None:
    fast_cheap = agent(duration_ms=900.0, cost=0.0004)
    assert judge("latency_max", {"max_ms": 1000}, fast_cheap).boolean
    assert judge("latency_max", {"max_ms": 500}, fast_cheap).boolean is False
    assert judge("cost_max", {"max_usd": 0.001}, fast_cheap).boolean
    with pytest.raises(EvaluationError, match="cost is unknown"):
        judge("cost_max", {"max_usd": 0.001}, agent(duration_ms=900.0))  # never a pass, never a zero


def test_tool_calls_match_step_by_step() -> None:
    original = agent(
        step(0, [("get_weather", {"city": "Paris", "unit": "C"})]),
        step(1, [("get_forecast", {"city": "Paris", "days": 3})]),
        step(2, text="Take an umbrella."),
    )
    # Same calls, arguments in another key order and spacing: equivalent.
    same = agent(
        step(0, [("get_weather", '{"unit": "C",  "city": "Paris"}')]),
        step(1, [("get_forecast", {"days": 3, "city": "Paris"})]),
        step(2, text="Umbrella!"),
    )
    agreed = judge("tool_calls_match", {}, same, original)
    assert (
        agreed.value == 1.0 and agreed.details["f1"] == 1.0 and agreed.details["first_divergent_step"] is None
    )

    # The replayed model picks another tool at the second step.
    other = agent(
        step(0, [("get_weather", {"city": "Paris", "unit": "C"})]),
        step(1, [("search_web", {"query": "Paris forecast"})]),
        step(2, text="Take an umbrella."),
    )
    diverged = judge("tool_calls_match", {}, other, original)
    assert diverged.value == pytest.approx(2 / 3)
    assert diverged.details["first_divergent_step"] == 2
    assert diverged.details["f1"] == pytest.approx(0.5)
    assert "search_web" in (diverged.reasoning or "")

    # A replay that stops early disagrees on the steps it never took.
    short = judge(
        "tool_calls_match", {}, agent(step(0, [("get_weather", {"city": "Paris", "unit": "C"})])), original
    )
    assert short.value == pytest.approx(1 / 3) and short.details["first_divergent_step"] == 2


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("regex", {"pattern": "("}, "not a valid regular expression"),
        ("regex", {}, "config.pattern must be a string"),
        ("contains", {"text": []}, "non-empty string or a list"),
        ("json_schema", {"schema": {"type": "nope"}}, "not a valid JSON Schema"),
        ("similarity", {"method": "cosine"}, "config.method must be one of"),
        ("similarity", {"threshold": 2}, "between 0 and 1"),
        ("latency_max", {"max_ms": "fast"}, "config.max_ms must be a number"),
        ("cost_max", {"max_usd": 1, "currency": "EUR"}, "unknown config key currency"),
    ],
)
def test_bad_configurations_are_refused_with_the_reason(
    kind: str, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(Unprocessable, match=message):
        BUILTIN[kind].check(config)
