"""The replay executor: re-runs a trace's LLM spans and writes the replayed trace (DESIGN rules 1-6).

LLM spans are re-executed teacher-forced, with their recorded input and the replay's
overrides; every other span is copied. New ids derive from (replay id, original id), so a
retried job overwrites what an earlier attempt wrote instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Replay, Span, Trace, TraceTag, utcnow
from tracereplay.errors import TraceReplayError
from tracereplay.ingest.otlp import IncomingSpan
from tracereplay.ingest.store import write_spans
from tracereplay.providers.base import CompletionRequest, CompletionResponse
from tracereplay.providers.price_overrides import ProjectPrices
from tracereplay.providers.pricing import PriceBook
from tracereplay.providers.registry import ProviderRegistry
from tracereplay.replay.service import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    replayable_llm_spans,
    resolve_span_model,
)
from tracereplay.replay.timeline import TimedSpan, project

log = logging.getLogger(__name__)

SPANS_AT_ONCE = 4  # LLM calls of one replay in flight together (their inputs are all known)
HEARTBEAT_SECONDS = 5.0


@dataclass
class ReplayDeps:
    engine: Engine
    sessions: sessionmaker[Session]
    providers: ProviderRegistry
    prices: ProjectPrices


@dataclass
class LLMResult:
    response: CompletionResponse | None
    provider: str | None
    model: str
    parameters: dict[str, Any]
    error: str | None = None


def derived_id(replay_id: str, original: str, length: int) -> str:
    return hashlib.sha256(f"{replay_id}:{original}".encode()).hexdigest()[:length]


def merged_parameters(original: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides over the original invocation parameters; an override of null removes one."""
    merged = dict(original or {})
    for name, value in overrides.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _claim(sessions: sessionmaker[Session], replay_id: str) -> int | None:
    """PENDING -> RUNNING, atomically: two workers never run the same replay. Returns the
    attempt number, which later updates check, so a worker the sweeper gave up on cannot
    overwrite the attempt that replaced it."""
    with sessions.begin() as session:
        claimed = session.execute(
            update(Replay)
            .where(Replay.replay_id == replay_id, Replay.status == PENDING)
            .values(
                status=RUNNING,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                attempts=Replay.attempts + 1,
                llm_spans_done=0,  # a retried replay counts its progress from the start
                llm_spans_failed=0,
            )
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        return session.scalar(select(Replay.attempts).where(Replay.replay_id == replay_id))


def _mine(replay_id: str, attempt: int) -> Any:
    """This attempt's replay row, while it still runs."""
    return (Replay.replay_id == replay_id) & (Replay.status == RUNNING) & (Replay.attempts == attempt)


def _heartbeat(sessions: sessionmaker[Session], replay_id: str, attempt: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        with sessions.begin() as session:
            session.execute(update(Replay).where(_mine(replay_id, attempt)).values(heartbeat_at=utcnow()))


def run_replay(deps: ReplayDeps, replay_id: str) -> None:
    """The job: run replay `replay_id` if it is still PENDING."""
    attempt = _claim(deps.sessions, replay_id)
    if attempt is None:
        log.info("replay %s is not pending any more; nothing to do", replay_id)
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(deps.sessions, replay_id, attempt, stop), daemon=True)
    beat.start()
    try:
        _execute(deps, replay_id, attempt)
    except Exception as exc:
        log.exception("replay %s failed", replay_id)
        _finish(deps.sessions, replay_id, attempt, FAILED, f"replay failed: {type(exc).__name__}: {exc}")
    finally:
        stop.set()


def _finish(
    sessions: sessionmaker[Session],
    replay_id: str,
    attempt: int,
    status: str,
    error: str | None,
    **values: Any,
) -> None:
    with sessions.begin() as session:
        session.execute(
            update(Replay)
            .where(_mine(replay_id, attempt))
            .values(status=status, error=error, finished_at=utcnow(), **values)
        )


def _execute(deps: ReplayDeps, replay_id: str, attempt: int) -> None:
    with deps.sessions() as session:
        replay = session.scalars(select(Replay).where(Replay.replay_id == replay_id)).one()
        source = session.get_one(Trace, replay.source_trace_rowid)
        spans = list(
            session.scalars(select(Span).where(Span.trace_rowid == source.id).order_by(Span.start_time))
        )
        tags = list(session.scalars(select(TraceTag.tag).where(TraceTag.trace_rowid == source.id)))
        session.expunge_all()
    llm_spans = replayable_llm_spans(spans)
    results = _run_llm_spans(deps, replay_id, attempt, llm_spans, replay.overrides)
    if results is None:  # cancelled, or the sweeper gave this attempt up: write nothing
        return
    trace_id = derived_id(replay_id, "trace", 32)
    prices = deps.prices.book(source.project_rowid)
    incoming = _replayed_spans(replay_id, trace_id, source, spans, results, tags, prices)
    failures = [(span, results[span.span_id]) for span in llm_spans if results[span.span_id].error]
    with deps.engine.begin() as conn:
        write_spans(conn, source.project_rowid, incoming)
        conn.execute(
            update(Trace)
            .where(Trace.project_rowid == source.project_rowid, Trace.trace_id == trace_id)
            .values(source_trace_id=source.trace_id, replay_id=replay_id)
        )
    if failures:
        first = "; ".join(f"{span.name} ({span.span_id}): {result.error}" for span, result in failures[:3])
        summary = f"{len(failures)} of {len(llm_spans)} LLM spans failed: {first}"
        _finish(deps.sessions, replay_id, attempt, FAILED, summary, result_trace_id=trace_id)
    else:
        _finish(deps.sessions, replay_id, attempt, COMPLETED, None, result_trace_id=trace_id)


def _run_llm_spans(
    deps: ReplayDeps, replay_id: str, attempt: int, llm_spans: list[Span], overrides: dict[str, Any]
) -> dict[str, LLMResult] | None:
    """Every LLM span re-executed, a few at once. None, and the calls not yet made skipped,
    once the replay is no longer this attempt's to run (cancelled, or given up by the sweeper)."""
    parameters_override = overrides.get("modelParameters") or {}

    def call(span: Span) -> LLMResult:
        parameters = merged_parameters(span.invocation_parameters, parameters_override)
        try:
            provider, model = resolve_span_model(deps.providers, span, overrides.get("model"))
        except TraceReplayError as exc:
            return LLMResult(None, None, str(span.model), parameters, exc.message)
        if span.provider and span.provider.lower() != provider.name.lower():  # moved elsewhere
            parameters = {
                name: value
                for name, value in parameters.items()
                if name in parameters_override or provider.understands(name)
            }
        request = CompletionRequest(model, list(span.input_messages or []), span.tools, parameters)
        try:
            return LLMResult(provider.complete(request), provider.name, model, parameters)
        except TraceReplayError as exc:
            return LLMResult(None, provider.name, model, parameters, exc.message)

    results: dict[str, LLMResult] = {}
    with ThreadPoolExecutor(max_workers=min(SPANS_AT_ONCE, max(1, len(llm_spans)))) as pool:
        futures = {pool.submit(call, span): span for span in llm_spans}
        for future in as_completed(futures):
            span = futures[future]
            result = results[span.span_id] = future.result()
            with deps.sessions.begin() as session:
                progressed = session.execute(
                    update(Replay)
                    .where(_mine(replay_id, attempt))
                    .values(
                        llm_spans_done=Replay.llm_spans_done + 1,
                        llm_spans_failed=Replay.llm_spans_failed + int(result.error is not None),
                    )
                )
            if not progressed.rowcount:  # type: ignore[attr-defined]
                for pending in futures:
                    pending.cancel()
                return None
    return results


def _replayed_spans(
    replay_id: str,
    trace_id: str,
    source: Trace,
    spans: list[Span],
    results: dict[str, LLMResult],
    tags: list[str],
    prices: PriceBook,
) -> list[IncomingSpan]:
    timed = []
    for span in spans:
        result = results.get(span.span_id)
        latency = None
        if result is not None and result.response is not None:
            latency = timedelta(milliseconds=result.response.latency_ms)
        timed.append(TimedSpan(span.span_id, span.parent_span_id, span.start_time, span.end_time, latency))
    timeline = project(timed)
    hints = {
        key: value
        for key, value in {
            "session_id": source.session_id,
            "user_id": source.user_id,
            "environment": source.environment,
            "metadata": source.trace_metadata,
            "tags": tags,
        }.items()
        if value
    }
    incoming = []
    for span in spans:
        start, end = timeline[span.span_id]
        row: dict[str, Any] = {
            "span_id": derived_id(replay_id, span.span_id, 16),
            "parent_span_id": derived_id(replay_id, span.parent_span_id, 16) if span.parent_span_id else None,
            "name": span.name,
            "kind": span.kind,
            "start_time": start,
            "end_time": end,
            "duration_ms": (end - start).total_seconds() * 1000.0,
            "status_code": span.status_code,
            "status_message": span.status_message,
            "service_name": span.service_name,
            "attributes": {**span.attributes, "tracereplay.source_span_id": span.span_id},
            "events": span.events,
            "input": span.input,
            "output": span.output,
            "provider": span.provider,
            "model": span.model,
            "invocation_parameters": span.invocation_parameters,
            "input_messages": span.input_messages,
            "output_messages": span.output_messages,
            "tools": span.tools,
            "prompt_tokens": span.prompt_tokens,
            "completion_tokens": span.completion_tokens,
            "total_tokens": span.total_tokens,
            "cost": span.cost,
            "prompt_template": span.prompt_template,
        }
        result = results.get(span.span_id)
        if result is not None:
            _apply_result(row, result, prices)
        incoming.append(IncomingSpan(trace_id, row, hints if span.parent_span_id is None else {}))
    return incoming


def _apply_result(row: dict[str, Any], result: LLMResult, prices: PriceBook) -> None:
    """An LLM span as the replay ran it: new model, parameters, output, usage and cost."""
    row.update(provider=result.provider, model=result.model, invocation_parameters=result.parameters)
    response = result.response
    if response is None:
        row.update(
            status_code="ERROR", status_message=result.error, output_messages=None,
            prompt_tokens=None, completion_tokens=None, total_tokens=None, cost=None,
        )  # fmt: skip
        return
    row.update(
        status_code="OK",
        status_message=None,
        output_messages=response.output_messages,
        output=None,
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
        total_tokens=response.total_tokens,
        cost=prices.cost(result.provider, result.model, response.prompt_tokens, response.completion_tokens),
    )
