"""The `llm_judge` evaluator: a rubric rendered with the trace, sent to a judge model from the
model catalog, and the answer parsed into a score with its reasoning.

The rubric is a text template in the prompt template language, with `{{input}}`, `{{output}}`,
`{{original_output}}`, `{{expected}}` and the variables the trace's last linked LLM span
recorded (`{{variables.NAME}}`). The judge is asked for a JSON object (and, where the provider
takes it, for JSON output), which gives a number within the configured range, a label from the
configured list, or pass/fail. Each judge call is stored as a trace of its own in the reserved
environment `tracereplay-judge`, which evaluators never score. An answer that cannot be parsed,
or a failing call, is an `EvaluationError`: the score records it, never a value.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracereplay.errors import TraceReplayError, Unprocessable
from tracereplay.evals.subjects import EvaluationError, Outcome, Subject
from tracereplay.ingest.records import SpanRecord, TraceHints
from tracereplay.ingest.service import Ingestion
from tracereplay.providers.base import CompletionRequest
from tracereplay.providers.registry import Providers
from tracereplay_sdk.templates import TemplateError, render, variables

JUDGE_ENVIRONMENT = "tracereplay-judge"  # judge calls are stored here; evaluators never score them
RUBRIC_VARIABLES = {"input", "output", "original_output", "expected"}
MAX_RUBRIC = 20_000
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True)
class JudgeContext:
    """What a judge needs beyond the trace: the models, and where to store its own call."""

    providers: Providers
    ingest: Ingestion
    project_rowid: int


def check(config: dict[str, Any]) -> None:
    unknown = sorted(set(config) - {"model", "rubric", "score", "expected", "parameters"})
    if unknown:
        raise Unprocessable(
            f"unknown config key {', '.join(unknown)} (known: model, rubric, score, expected, parameters)"
        )
    if not isinstance(config.get("model"), str) or not config["model"].strip():
        raise Unprocessable(
            "config.model names the judge model, e.g. openai:gpt-4o-mini or local:gemma-3-270m"
        )
    rubric = config.get("rubric")
    if not isinstance(rubric, str) or not rubric.strip() or len(rubric) > MAX_RUBRIC:
        raise Unprocessable(
            f"config.rubric is the judge's instructions, a template of 1 to {MAX_RUBRIC} characters"
        )
    unknown_variables = [
        name for name in variables("text", rubric).names
        if name not in RUBRIC_VARIABLES and not name.startswith("variables.")
    ]  # fmt: skip
    if unknown_variables:
        raise Unprocessable(
            f"config.rubric uses unknown variables {', '.join(unknown_variables)}; it may use "
            "{{input}}, {{output}}, {{original_output}}, {{expected}} and {{variables.NAME}}"
        )
    if "expected" in variables("text", rubric).names and "expected" not in config:
        raise Unprocessable("config.rubric uses {{expected}}: give it in config.expected")
    _score_spec(config)
    if "parameters" in config and not isinstance(config["parameters"], dict):
        raise Unprocessable('config.parameters is an object, e.g. {"temperature": 0}')


def _score_spec(config: dict[str, Any]) -> dict[str, Any]:
    spec = config.get("score", {"type": "numeric", "min": 0, "max": 1})
    if not isinstance(spec, dict):
        raise Unprocessable('config.score is {"type": "numeric", "min", "max"}, {"type": "categorical", '
                            '"labels": [...]} or {"type": "boolean"}')  # fmt: skip
    kind = spec.get("type", "numeric")
    if kind == "numeric":
        low, high = spec.get("min", 0), spec.get("max", 1)
        if (
            not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
            or low >= high
        ):
            raise Unprocessable("config.score needs numbers min < max")
        return {"type": "numeric", "min": low, "max": high}
    if kind == "categorical":
        labels = spec.get("labels")
        if (
            not isinstance(labels, list)
            or len(labels) < 2
            or not all(isinstance(x, str) and x for x in labels)
        ):
            raise Unprocessable("config.score.labels lists at least two labels")
        return {"type": "categorical", "labels": labels}
    if kind == "boolean":
        return {"type": "boolean"}
    raise Unprocessable(f'config.score.type is "numeric", "categorical" or "boolean", not {kind!r}')


def _input_of(subject: Subject) -> str:
    if subject.input is not None:
        return subject.input
    for span in subject.llm_spans:
        for message in reversed(span.input_messages or []):
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                return str(message["content"])
    return ""


def _values(config: dict[str, Any], subject: Subject, original: Subject | None) -> dict[str, Any]:
    values: dict[str, Any] = {"input": _input_of(subject), "output": subject.final_output or ""}
    if original is not None:
        values["original_output"] = original.final_output or ""
    if "expected" in config:
        values["expected"] = config["expected"]
    for span in reversed(subject.llm_spans):
        recorded = (span.prompt_template or {}).get("variables")
        if isinstance(recorded, dict):
            values.update({f"variables.{name}": value for name, value in recorded.items()})
            break
    return values


def _instructions(spec: dict[str, Any]) -> str:
    if spec["type"] == "numeric":
        answer = f'"score": a number from {spec["min"]} to {spec["max"]}'
    elif spec["type"] == "categorical":
        answer = f'"label": one of {json.dumps(spec["labels"])}'
    else:
        answer = '"passed": true or false'
    return (
        "You are an impartial evaluator. Reply with one JSON object and nothing else: "
        f'{{"reasoning": "one or two sentences", {answer}}}.'
    )


def parse_answer(text: str, spec: dict[str, Any]) -> Outcome:
    """The judge's answer as an outcome; EvaluationError quoting it when it cannot be read."""
    found = JSON_OBJECT.search(text)
    try:
        answer = json.loads(found.group(0)) if found else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise EvaluationError(f"the judge's answer is not a JSON object: {text[:300]!r}")
    reasoning = answer.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, str) else None
    if spec["type"] == "numeric":
        score = answer.get("score")
        if isinstance(score, str):
            with contextlib.suppress(ValueError):
                score = float(score)
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise EvaluationError(f"the judge gave no numeric score: {text[:300]!r}")
        if not spec["min"] <= score <= spec["max"]:
            raise EvaluationError(f"the judge's score {score} is outside {spec['min']} to {spec['max']}")
        return Outcome("numeric", float(score), reasoning=reasoning)
    if spec["type"] == "categorical":
        label = answer.get("label")
        if label not in spec["labels"]:
            raise EvaluationError(f"the judge's label {label!r} is not one of {spec['labels']}")
        return Outcome("categorical", label=label, reasoning=reasoning)
    passed = answer.get("passed")
    if not isinstance(passed, bool):
        raise EvaluationError(f"the judge gave no true/false verdict: {text[:300]!r}")
    return Outcome.passed(passed, reasoning or "")


def evaluate(
    config: dict[str, Any], subject: Subject, original: Subject | None, context: JudgeContext | None
) -> Outcome:
    if context is None:
        raise EvaluationError("llm_judge needs the server's models; it runs in a worker, not here")
    spec = _score_spec(config)
    try:
        rubric = render("text", config["rubric"], _values(config, subject, original))
    except TemplateError as exc:
        raise EvaluationError(f"the rubric cannot be filled for this trace: {exc}") from exc
    try:
        provider, model = context.providers.resolve(config["model"])
    except TraceReplayError as exc:
        raise EvaluationError(f"judge model {config['model']!r}: {exc}") from exc
    messages = [{"role": "system", "content": _instructions(spec)}, {"role": "user", "content": str(rubric)}]
    wanted = {"temperature": 0, "max_tokens": 400, "response_format": {"type": "json_object"},
              **config.get("parameters", {})}  # fmt: skip
    parameters = {name: value for name, value in wanted.items() if provider.understands(name)}
    started = datetime.now(UTC)
    try:
        response = provider.complete(CompletionRequest(model, messages, None, parameters))
    except TraceReplayError as exc:
        raise EvaluationError(f"the judge call failed: {exc}") from exc
    text = next((m.get("content") for m in response.output_messages if isinstance(m.get("content"), str)), "")
    _store_call(
        context, subject, provider.name, response.model or model, messages, parameters, response, started
    )
    return parse_answer(text or "", spec)


def _store_call(
    context: JudgeContext, subject: Subject, provider: str, model: str, messages: list[dict[str, Any]],
    parameters: dict[str, Any], response: Any, started: datetime,
) -> None:  # fmt: skip
    """The judge's call as a trace of its own, in the reserved environment."""
    span = SpanRecord(
        trace_id=secrets.token_hex(16), span_id=secrets.token_hex(8), parent_span_id=None, name="llm_judge",
        start_time=started, end_time=datetime.now(UTC), kind="LLM", provider=provider, model=model,
        invocation_parameters=parameters, input_messages=messages, output_messages=response.output_messages,
        prompt_tokens=response.prompt_tokens, completion_tokens=response.completion_tokens,
        total_tokens=response.total_tokens,
        trace=TraceHints(environment=JUDGE_ENVIRONMENT, metadata={"judged_trace_id": subject.trace_id}),
    )  # fmt: skip
    context.ingest.store_spans(context.project_rowid, [span])


def compares(config: dict[str, Any]) -> bool:
    """A rubric that reads `{{original_output}}` judges a replay against its original."""
    rubric = config.get("rubric")
    return isinstance(rubric, str) and "original_output" in variables("text", rubric).names
