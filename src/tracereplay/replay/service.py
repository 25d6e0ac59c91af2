"""Replay requests: validation (DESIGN rule 8, all before anything is enqueued), views of a
replay and of a trace's history, cancel. Surfaces get `ReplayView`s, never rows."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Replay, Trace
from tracereplay.errors import NotFound, TraceReplayError, Unprocessable
from tracereplay.ingest.records import SpanRecord
from tracereplay.providers.base import Provider, UnknownModel
from tracereplay.providers.registry import Providers
from tracereplay.replay import lifecycle
from tracereplay.replay.lifecycle import ReplayStatus
from tracereplay.replay.prompting import PromptRewrite, plan_prompt_replay
from tracereplay.traces.queries import checked_id, find_trace, trace_spans
from tracereplay.traces.scores import ScoreView, scores_of

# Checks of well-known parameters; others pass through to the provider as they are.
_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
_POSITIVE_INTEGERS = ("max_tokens", "max_completion_tokens", "n", "top_k")


@dataclass(frozen=True)
class ReplayRequest:
    model: str | None = None
    prompt_template_version_id: str | None = None
    model_parameters: dict[str, Any] | None = None
    span_ids: list[str] | None = None  # re-run only these LLM spans; the others are copied
    strict: bool = False  # refuse unless every LLM span's request is fully known
    reconstruct_tools: bool = False  # tool definitions rebuilt from the calls where none were recorded

    def overrides(self) -> dict[str, Any]:
        overrides: dict[str, Any] = {
            "model": self.model,
            "promptTemplateVersionId": self.prompt_template_version_id,
            "modelParameters": self.model_parameters or {},
        }
        if self.span_ids:
            overrides["spanIds"] = [span_id.lower() for span_id in self.span_ids]
        if self.reconstruct_tools:
            overrides["reconstructTools"] = True
        return overrides


def parameter_value(text: str) -> Any:
    """A parameter typed as text (`--param name=value`, a form field): the JSON value it spells
    (0.2, 200, true, null, [..]), else the text itself. NaN and Infinity are not JSON: text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def validate_parameters(parameters: dict[str, Any]) -> None:
    problems = []
    for name, value in parameters.items():
        if value is None:
            continue  # null removes the original parameter
        if name in _NUMBER_RANGES:
            low, high = _NUMBER_RANGES[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"{name} must be a number, got {value!r}")
            elif not low <= value <= high:
                problems.append(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        elif name in _POSITIVE_INTEGERS and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            problems.append(f"{name} must be a positive integer, got {value!r}")
        elif name == "stop" and not (isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )):  # fmt: skip
            problems.append(f"stop must be a string or a list of strings, got {value!r}")
    if problems:
        raise Unprocessable("invalid modelParameters: " + "; ".join(problems), details=problems)


def replayable_llm_spans(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """LLM spans whose input was captured: only those can be re-executed. A span that restates
    another's call is not one: the call runs once, through the span that counts it."""
    return [
        span for span in spans if span.kind == "LLM" and span.input_messages and span.same_call_as is None
    ]


def chosen_spans(spans: Sequence[SpanRecord], span_ids: Sequence[str] | None) -> list[SpanRecord]:
    """The replayable LLM spans, or only those named; a name that is not one is refused."""
    llm_spans = replayable_llm_spans(spans)
    if not span_ids:
        return llm_spans
    wanted = {span_id.lower() for span_id in span_ids}
    chosen = [span for span in llm_spans if span.span_id in wanted]
    unknown = sorted(wanted - {span.span_id for span in chosen})
    if unknown:
        raise Unprocessable(
            f"span(s) {', '.join(unknown)} are not replayable LLM spans of this trace "
            "(an LLM span with recorded input messages)",
            details={"span_ids": unknown},
        )
    return chosen


STRICT_LISTED = 20  # findings spelled out in a strict refusal's message (all are in its details)


def refuse_inexact(spans: Sequence[SpanRecord], chosen: Iterable[str] = ()) -> None:
    """A strict replay's check: Unprocessable naming the spans and fields that are not known
    (an argument the replay sets itself, in `chosen`, is known)."""
    from tracereplay.replay.fidelity import assess

    given = set(chosen)
    problems = [
        {"span_id": span.span_id, "name": span.name, "field": finding.field, "why": finding.why}
        for span in spans
        for finding in assess(span, chosen=given)
    ]
    if problems:
        listed = "; ".join(
            f"{p['name']} ({p['span_id']}) {p['field']}: {p['why']}" for p in problems[:STRICT_LISTED]
        )
        if len(problems) > STRICT_LISTED:
            listed += f"; and {len(problems) - STRICT_LISTED} more (see details)"
        raise Unprocessable(
            f"a strict replay needs every LLM span's request fully recorded, and {listed}; replay "
            'without "fidelity": "strict" to accept it, or capture exact requests with the SDK',
            details=problems,
        )


def resolve_span_model(providers: Providers, span: SpanRecord, override: str | None) -> tuple[Provider, str]:
    """The provider and model an LLM span is replayed with: the override, else its own model
    with its recorded provider, else its model alone (a recorded provider such as "azure" may
    not be one configured here)."""
    if override:
        return providers.resolve(override)
    if span.provider:
        try:
            return providers.resolve(f"{span.provider}:{span.model}")
        except UnknownModel:
            pass
    return providers.resolve(str(span.model))


@dataclass(frozen=True)
class TraceTotals:
    """What a replay's history shows of its original and its result."""

    trace_id: str
    duration_ms: float | None
    total_tokens: int | None
    cost: float | None
    error_count: int

    @classmethod
    def of(cls, trace: Trace) -> TraceTotals:
        return cls(trace.trace_id, trace.duration_ms, trace.total_tokens, trace.cost, trace.error_count)


@dataclass(frozen=True)
class ReplayView:
    replay_id: str
    trace_id: str  # the trace replayed
    status: ReplayStatus
    overrides: dict[str, Any]
    llm_spans_total: int
    llm_spans_done: int
    llm_spans_failed: int
    error: str | None
    result_trace_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    original: TraceTotals
    result: TraceTotals | None
    # A completed replay: "pending" until the enabled evaluators have scored it, then "done".
    evaluations: str | None = None
    scores: list[ScoreView] = field(default_factory=list)  # the replayed trace's
    original_scores: list[ScoreView] = field(default_factory=list)

    @property
    def progress(self) -> str:
        return f"{self.llm_spans_done}/{self.llm_spans_total} LLM spans"


def _view(session: Session, replay: Replay, source: Trace) -> ReplayView:
    result = None
    if replay.result_trace_id:
        result = session.scalar(
            select(Trace).where(
                Trace.project_rowid == replay.project_rowid, Trace.trace_id == replay.result_trace_id
            )
        )
    scores = scores_of(session, [source.id] + ([result.id] if result is not None else []))
    return ReplayView(
        replay_id=replay.replay_id,
        trace_id=source.trace_id,
        status=ReplayStatus(replay.status),
        overrides=replay.overrides,
        llm_spans_total=replay.llm_spans_total,
        llm_spans_done=replay.llm_spans_done,
        llm_spans_failed=replay.llm_spans_failed,
        error=replay.error,
        result_trace_id=replay.result_trace_id,
        created_at=replay.created_at,
        started_at=replay.started_at,
        finished_at=replay.finished_at,
        original=TraceTotals.of(source),
        result=TraceTotals.of(result) if result is not None else None,
        evaluations=_evaluations(replay),
        scores=scores.get(result.id, []) if result is not None else [],
        original_scores=scores.get(source.id, []),
    )


def _evaluations(replay: Replay) -> str | None:
    if replay.status != ReplayStatus.COMPLETED:
        return None
    return "done" if replay.evaluated_at is not None else "pending"


def create_replay(
    sessions: sessionmaker[Session],
    providers: Providers,
    project_rowid: int,
    trace_id: str,
    request: ReplayRequest,
    *,
    retention_days: int,
    enqueue: Callable[[str], None],
) -> ReplayView:
    """Validate, store a PENDING replay, and enqueue it; refused with a 4xx before anything else."""
    validate_parameters(request.model_parameters or {})
    with sessions() as session:
        trace = find_trace(session, project_rowid, trace_id, retention_days)
        spans = trace_spans(session, trace)
    llm_spans = chosen_spans(spans, request.span_ids)
    if not llm_spans:
        total = sum(span.kind == "LLM" and span.same_call_as is None for span in spans)
        reason = (
            f"its {total} LLM span(s) have no recorded input messages (capture message content "
            "in your instrumentation)"
            if total
            else "it has no LLM span"
        )
        raise Unprocessable(f"trace {trace.trace_id} cannot be replayed: {reason}")
    if request.strict:
        refuse_inexact(llm_spans, chosen=(request.model_parameters or {}).keys())
    rewrites: dict[str, PromptRewrite] = {}
    if request.prompt_template_version_id is not None:
        rewrites = plan_prompt_replay(sessions, project_rowid, request.prompt_template_version_id, llm_spans)
        for planned in rewrites.values():
            try:
                validate_parameters(planned.parameters)  # the version's config
            except Unprocessable as exc:
                link = planned.prompt_template
                raise Unprocessable(
                    f"the config of version {link['version']} of prompt {link['name']!r}: {exc.message}",
                    details=exc.details,
                ) from exc
            break  # every rewrite carries the same version's config
    unresolved = []
    for span in llm_spans:
        rewrite = rewrites.get(span.span_id)
        try:
            resolve_span_model(providers, span, request.model or (rewrite.model if rewrite else None))
        except TraceReplayError as exc:
            if exc.message not in unresolved:
                unresolved.append(exc.message)
    if unresolved:
        raise Unprocessable("; ".join(unresolved), details=unresolved)
    with sessions.begin() as session:
        replay = Replay(
            replay_id=secrets.token_hex(8),
            project_rowid=project_rowid,
            source_trace_rowid=trace.id,
            status=ReplayStatus.PENDING,
            overrides=request.overrides(),
            llm_spans_total=len(llm_spans),
            llm_spans_done=0,
            llm_spans_failed=0,
            attempts=0,
        )
        session.add(replay)
        session.flush()
        view = _view(session, replay, session.get_one(Trace, trace.id))
    enqueue(view.replay_id)
    return view


def _find_replay(session: Session, project_rowid: int, replay_id: str) -> tuple[Replay, Trace]:
    row = session.execute(
        select(Replay, Trace)
        .join(Trace, Trace.id == Replay.source_trace_rowid)
        .where(Replay.replay_id == checked_id(replay_id, 16, "replay"), Replay.project_rowid == project_rowid)
    ).first()
    if row is None:
        raise NotFound(f"replay {replay_id} not found in this project")
    return row[0], row[1]


def get_replay(sessions: sessionmaker[Session], project_rowid: int, replay_id: str) -> ReplayView:
    with sessions() as session:
        return _view(session, *_find_replay(session, project_rowid, replay_id))


def list_replays(
    sessions: sessionmaker[Session], project_rowid: int, trace_id: str, retention_days: int
) -> list[ReplayView]:
    """A trace's replays, newest first."""
    with sessions() as session:
        trace = find_trace(session, project_rowid, trace_id, retention_days)
        replays = session.scalars(
            select(Replay)
            .where(Replay.source_trace_rowid == trace.id)
            .order_by(Replay.created_at.desc(), Replay.id.desc())
        )
        return [_view(session, replay, trace) for replay in replays]


def cancel_replay(sessions: sessionmaker[Session], project_rowid: int, replay_id: str) -> ReplayView:
    with sessions.begin() as session:
        replay, source = _find_replay(session, project_rowid, replay_id)
        lifecycle.cancel(session, replay)
        session.flush()
        return _view(session, replay, source)
