"""The built-in evaluator types that need no model: output checks, comparisons with the
original trace, thresholds, and tool-call agreement step by step.

Each type checks its configuration once (`check`, Unprocessable naming the problem, so a bad
evaluator is refused when it is created) and judges a trace (`evaluate`), given the original
when the trace is a replay. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import regex
from rapidfuzz import fuzz, utils

from tracereplay.errors import Unprocessable
from tracereplay.evals.subjects import EvaluationError, Outcome, Subject

Config = dict[str, Any]
MAX_PATTERN = 1000
REGEX_SECONDS = 1.0


@dataclass(frozen=True)
class EvaluatorType:
    """One kind of evaluator: its name, whether it compares with the original trace, how its
    configuration is checked, and how it judges."""

    name: str
    description: str
    check: Callable[[Config], None]
    # (config, trace, original) -> Outcome; with `needs_context`, a fourth argument: the
    # worker's models and ingestion (`evals.judge.JudgeContext`, None outside a worker).
    evaluate: Callable[..., Outcome]
    needs_original: bool = False
    needs_context: bool = False
    # For a type that compares with the original only under some configurations.
    compares_when: Callable[[Config], bool] | None = None

    def compares(self, config: Config) -> bool:
        """Whether, so configured, it judges a trace against its original (a replay's)."""
        return self.needs_original or (self.compares_when is not None and self.compares_when(config))


def _original(original: Subject | None, name: str) -> Subject:
    if original is None:
        raise EvaluationError(f"{name} compares a replay with its original; this trace is not a replay")
    return original


def _string(config: Config, key: str, *, required: bool = True) -> None:
    value = config.get(key)
    if (value is None and required) or (value is not None and not isinstance(value, str)):
        raise Unprocessable(f"config.{key} must be a string")


def _number(config: Config, key: str) -> float:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise Unprocessable(f"config.{key} must be a number ≥ 0")
    return float(value)


def _only(config: Config, *keys: str) -> None:
    unknown = sorted(set(config) - set(keys))
    if unknown:
        known = ", ".join(keys) or "none"
        raise Unprocessable(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (known: {known})"
        )


def _fold(text: str, config: Config) -> str:
    text = text.strip() if config.get("strip", True) else text
    return text if config.get("case_sensitive", True) else text.casefold()


# exact_match --------------------------------------------------------------------------------


def _check_exact(config: Config) -> None:
    _only(config, "expected", "case_sensitive", "strip")
    _string(config, "expected", required=False)


def _exact(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    output = subject.require_output()
    if config.get("expected") is not None:
        expected, against = config["expected"], "the expected text"
    else:
        expected, against = (
            _original(original, "exact_match without `expected`").require_output(),
            "the original",
        )
    same = _fold(output, config) == _fold(expected, config)
    return Outcome.passed(same, f"the final output {'equals' if same else 'differs from'} {against}")


# contains -----------------------------------------------------------------------------------


def _texts(config: Config) -> list[str]:
    value = config.get("text")
    return [value] if isinstance(value, str) else list(value or [])


def _check_contains(config: Config) -> None:
    _only(config, "text", "case_sensitive", "all")
    texts = config.get("text")
    if not (isinstance(texts, str) and texts) and not (
        isinstance(texts, list) and texts and all(isinstance(t, str) and t for t in texts)
    ):
        raise Unprocessable("config.text must be a non-empty string or a list of them")


def _contains(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    output = _fold(subject.require_output(), {**config, "strip": False})
    wanted = _texts(config)
    missing = [text for text in wanted if _fold(text, {**config, "strip": False}) not in output]
    need_all = config.get("all", True)
    ok = not missing if need_all else len(missing) < len(wanted)
    reason = "contains every text" if not missing else f"missing: {', '.join(repr(m) for m in missing)}"
    return Outcome.passed(ok, reason, missing=missing)


# regex --------------------------------------------------------------------------------------


def _check_regex(config: Config) -> None:
    _only(config, "pattern", "must_match", "ignore_case")
    _string(config, "pattern")
    if len(config["pattern"]) > MAX_PATTERN:
        raise Unprocessable(f"config.pattern is at most {MAX_PATTERN} characters")
    try:
        regex.compile(config["pattern"])
    except regex.error as exc:
        raise Unprocessable(f"config.pattern is not a valid regular expression: {exc}") from exc


def _regex(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    flags = regex.IGNORECASE if config.get("ignore_case") else 0
    # The output is untrusted: a pattern that backtracks badly on it is stopped, not waited for.
    try:
        found = (
            regex.search(config["pattern"], subject.require_output(), flags, timeout=REGEX_SECONDS)
            is not None
        )
    except TimeoutError as exc:
        raise EvaluationError(f"the pattern took more than {REGEX_SECONDS} s on this output") from exc
    must = config.get("must_match", True)
    return Outcome.passed(
        found == must, f"the pattern {'matches' if found else 'does not match'} the final output"
    )


# JSON ---------------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def _json_of(text: str) -> Any:
    """The output as JSON (a ```json fenced block counts as its content)."""
    fenced = FENCE.match(text)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except ValueError as exc:
        raise EvaluationError(f"the final output is not JSON: {exc}") from exc


def _check_none(config: Config) -> None:
    _only(config)


def _json_valid(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    try:
        _json_of(subject.require_output())
    except EvaluationError as exc:
        return Outcome.passed(False, str(exc))
    return Outcome.passed(True, "the final output is valid JSON")


def _check_schema(config: Config) -> None:
    _only(config, "schema")
    schema = config.get("schema")
    if not isinstance(schema, dict):
        raise Unprocessable("config.schema must be a JSON Schema object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise Unprocessable(f"config.schema is not a valid JSON Schema: {exc.message}") from exc


def _json_schema(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    try:
        document = _json_of(subject.require_output())
    except EvaluationError as exc:
        return Outcome.passed(False, str(exc))
    validator = jsonschema.validators.validator_for(config["schema"])(config["schema"])
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    if not errors:
        return Outcome.passed(True, "the final output matches the schema")
    first = errors[0]
    where = "/".join(str(part) for part in first.path) or "(root)"
    return Outcome.passed(False, f"{len(errors)} schema error(s); first at {where}: {first.message}")


def _key_paths(document: Any, prefix: str = "") -> set[str]:
    if isinstance(document, dict):
        paths = set()
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths |= {path} | _key_paths(value, path)
        return paths
    if isinstance(document, list):
        return set().union(*(_key_paths(item, f"{prefix}[]") for item in document)) if document else set()
    return set()


def _json_keys(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    before = _json_of(_original(original, "json_keys_match_original").require_output())
    try:
        after = _json_of(subject.require_output())
    except EvaluationError as exc:
        return Outcome.passed(False, str(exc))
    old, new = _key_paths(before), _key_paths(after)
    if old == new:
        return Outcome.passed(True, f"the same {len(old)} keys as the original")
    missing, added = sorted(old - new), sorted(new - old)
    return Outcome.passed(
        False, f"keys missing: {', '.join(missing) or 'none'}; keys added: {', '.join(added) or 'none'}",
        missing=missing, added=added,
    )  # fmt: skip


# similarity ---------------------------------------------------------------------------------

SIMILARITY_METHODS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
}


def _check_similarity(config: Config) -> None:
    _only(config, "method", "threshold")
    method = config.get("method", "token_sort_ratio")
    if method not in SIMILARITY_METHODS:
        raise Unprocessable(f"config.method must be one of {', '.join(SIMILARITY_METHODS)}")
    if "threshold" in config and not 0 <= _number(config, "threshold") <= 1:
        raise Unprocessable("config.threshold is between 0 and 1")


def _similarity(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    before = _original(original, "similarity").require_output()
    method = config.get("method", "token_sort_ratio")
    # Compared as words: case and punctuation folded away.
    score = (
        SIMILARITY_METHODS[method](before, subject.require_output(), processor=utils.default_process) / 100.0
    )
    reasoning = f"{method} similarity to the original's final output: {score:.3f}"
    if "threshold" in config:
        reasoning += f" ({'at or above' if score >= config['threshold'] else 'below'} {config['threshold']})"
    return Outcome("numeric", score, reasoning=reasoning)


# thresholds ---------------------------------------------------------------------------------


def _check_latency(config: Config) -> None:
    _only(config, "max_ms")
    _number(config, "max_ms")


def _latency(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    if subject.duration_ms is None:
        raise EvaluationError("the trace has no duration")
    ok = subject.duration_ms <= config["max_ms"]
    return Outcome.passed(ok, f"took {subject.duration_ms:.0f} ms (limit {config['max_ms']} ms)")


def _check_cost(config: Config) -> None:
    _only(config, "max_usd")
    _number(config, "max_usd")


def _cost(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    if subject.cost is None:
        raise EvaluationError("the trace's cost is unknown (no price for its model, or no token counts)")
    ok = subject.cost <= config["max_usd"]
    return Outcome.passed(ok, f"cost ${subject.cost:.6f} (limit ${config['max_usd']})")


# tool calls ---------------------------------------------------------------------------------


def _calls(span: Any) -> list[tuple[str, str]]:
    """A span's tool calls as (name, arguments in canonical JSON), in order."""
    calls = []
    for message in span.output_messages or []:
        for call in message.get("tool_calls") or []:
            arguments = call.get("arguments")
            try:
                parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
                canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            except ValueError:
                canonical = str(arguments)  # not JSON: compared as recorded
            calls.append((str(call.get("name")), canonical))
    return calls


def _tool_calls(config: Config, subject: Subject, original: Subject | None) -> Outcome:
    """Per LLM step (original and replay paired in order), does the model call the same tools
    with equivalent arguments in the same order: agreement rate, tool-call F1 over all calls,
    and the first step where they diverge."""
    steps_before, steps_after = _original(original, "tool_calls_match").llm_spans, subject.llm_spans
    if not steps_before:
        raise EvaluationError("the original trace has no LLM spans")
    pairs = list(zip(steps_before, steps_after, strict=False))
    agreed = [_calls(before) == _calls(after) for before, after in pairs]
    agreed += [False] * (max(len(steps_before), len(steps_after)) - len(pairs))
    expected = Counter(call for step in steps_before for call in _calls(step))
    produced = Counter(call for step in steps_after for call in _calls(step))
    matched = sum((expected & produced).values())
    precision = matched / sum(produced.values()) if produced else 1.0 if not expected else 0.0
    recall = matched / sum(expected.values()) if expected else 1.0 if not produced else 0.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    divergent = next((index for index, same in enumerate(agreed) if not same), None)
    rate = sum(agreed) / len(agreed)
    where = "no step diverges" if divergent is None else f"first divergent step: {divergent + 1}"
    if divergent is not None and divergent < len(pairs):
        before, after = pairs[divergent]
        where += f" (original {_calls(before) or 'no calls'}, replay {_calls(after) or 'no calls'})"
    return Outcome(
        "numeric", rate,
        reasoning=f"{sum(agreed)} of {len(agreed)} steps agree; tool-call F1 {f1:.3f}; {where}",
        details={"agreement_rate": rate, "f1": f1, "precision": precision, "recall": recall,
                 "first_divergent_step": None if divergent is None else divergent + 1, "steps": len(agreed)},
    )  # fmt: skip


BUILTIN: dict[str, EvaluatorType] = {
    t.name: t
    for t in (
        EvaluatorType("exact_match", "the final output equals `expected` (or the original's)",
                      _check_exact, _exact, compares_when=lambda config: config.get("expected") is None),
        EvaluatorType("contains", "the final output contains `text` (all, or any)",
                      _check_contains, _contains),
        EvaluatorType("regex", "the final output matches `pattern`", _check_regex, _regex),
        EvaluatorType("json_valid", "the final output is JSON", _check_none, _json_valid),
        EvaluatorType("json_schema", "the final output matches a JSON Schema", _check_schema, _json_schema),
        EvaluatorType("json_keys_match_original", "the same JSON keys as the original's output",
                      _check_none, _json_keys, needs_original=True),
        EvaluatorType("similarity", "how close the final output is to the original's (0 to 1)",
                      _check_similarity, _similarity, needs_original=True),
        EvaluatorType("tool_calls_match", "per LLM step, the same tool calls as the original",
                      _check_none, _tool_calls, needs_original=True),
        EvaluatorType("latency_max", "the trace took at most `max_ms`", _check_latency, _latency),
        EvaluatorType("cost_max", "the trace cost at most `max_usd`", _check_cost, _cost),
    )
}  # fmt: skip
