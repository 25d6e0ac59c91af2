"""The replay executor: re-runs a trace's LLM spans and writes the replayed trace (DESIGN rules 1-6).

LLM spans are re-executed teacher-forced, with their recorded input and the replay's
overrides; every other span is copied. New ids derive from (replay id, original id), so a
retried job overwrites what an earlier attempt wrote instead of duplicating it. The replayed
trace is stored through `ingest.service` like any other span, and the replay moves through
its states only by `lifecycle`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Replay, Trace, TraceTag
from tracereplay.errors import TraceReplayError
from tracereplay.ingest.records import SpanRecord, TraceHints
from tracereplay.ingest.service import Ingestion
from tracereplay.providers.base import CompletionRequest, CompletionResponse
from tracereplay.providers.registry import Providers
from tracereplay.replay import lifecycle
from tracereplay.replay.fidelity import assess, reconstructed_tools, verdict
from tracereplay.replay.lifecycle import Attempt, ReplayStatus
from tracereplay.replay.prompting import PromptRewrite, plan_prompt_replay
from tracereplay.replay.service import chosen_spans, resolve_span_model
from tracereplay.replay.timeline import TimedSpan, project
from tracereplay.traces.queries import trace_spans

log = logging.getLogger(__name__)

SPANS_AT_ONCE = 4  # LLM calls of one replay in flight together (their inputs are all known)
HEARTBEAT_SECONDS = 5.0


@dataclass
class ReplayDeps:
    sessions: sessionmaker[Session]
    providers: Providers
    ingest: Ingestion


@dataclass
class LLMResult:
    response: CompletionResponse | None
    provider: str | None
    model: str
    parameters: dict[str, Any]
    rewrite: PromptRewrite | None  # the span's input as a new prompt version rendered it
    error: str | None = None
    tools: list[dict[str, Any]] | None = None  # the definitions sent, when rebuilt from the calls


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


def _heartbeat(sessions: sessionmaker[Session], attempt: Attempt, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        lifecycle.heartbeat(sessions, attempt)


def run_replay(deps: ReplayDeps, replay_id: str) -> None:
    """The job: run replay `replay_id` if it is still PENDING."""
    attempt = lifecycle.claim(deps.sessions, replay_id)
    if attempt is None:
        log.info("replay %s is not pending any more; nothing to do", replay_id)
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(deps.sessions, attempt, stop), daemon=True)
    beat.start()
    try:
        _execute(deps, attempt)
    except Exception as exc:
        log.exception("replay %s failed", replay_id)
        lifecycle.finish(
            deps.sessions, attempt, ReplayStatus.FAILED, f"replay failed: {type(exc).__name__}: {exc}"
        )
    finally:
        stop.set()


def _execute(deps: ReplayDeps, attempt: Attempt) -> None:
    replay_id = attempt.replay_id
    with deps.sessions() as session:
        replay = session.scalars(select(Replay).where(Replay.replay_id == replay_id)).one()
        source = session.get_one(Trace, replay.source_trace_rowid)
        spans = trace_spans(session, source)
        tags = list(session.scalars(select(TraceTag.tag).where(TraceTag.trace_rowid == source.id)))
        hints = TraceHints(
            session_id=source.session_id,
            user_id=source.user_id,
            environment=source.environment,
            tags=tags,
            metadata=source.trace_metadata,
            source_trace_id=source.trace_id,
            replay_id=replay_id,
        )
        project_rowid, overrides = source.project_rowid, replay.overrides
    llm_spans = chosen_spans(spans, overrides.get("spanIds"))
    version_id = overrides.get("promptTemplateVersionId")
    rewrites = plan_prompt_replay(deps.sessions, project_rowid, version_id, llm_spans) if version_id else {}
    results = _run_llm_spans(deps, attempt, llm_spans, overrides, rewrites)
    if results is None:  # cancelled, or the sweeper gave this attempt up: write nothing
        return
    for span in spans:  # the other record of a call re-run is written from its result
        if span.same_call_as in results and span.span_id not in results:
            results[span.span_id] = results[span.same_call_as]
    trace_id = derived_id(replay_id, "trace", 32)
    chosen = frozenset(overrides.get("modelParameters") or {})
    replayed = _replayed_spans(replay_id, trace_id, spans, results, hints, chosen)
    deps.ingest.store_spans(project_rowid, replayed)
    failures = [(span, results[span.span_id]) for span in llm_spans if results[span.span_id].error]
    if failures:
        first = "; ".join(f"{span.name} ({span.span_id}): {result.error}" for span, result in failures[:3])
        summary = f"{len(failures)} of {len(llm_spans)} LLM spans failed: {first}"
        lifecycle.finish(deps.sessions, attempt, ReplayStatus.FAILED, summary, result_trace_id=trace_id)
    else:
        lifecycle.finish(deps.sessions, attempt, ReplayStatus.COMPLETED, result_trace_id=trace_id)


def _run_llm_spans(
    deps: ReplayDeps,
    attempt: Attempt,
    llm_spans: list[SpanRecord],
    overrides: dict[str, Any],
    rewrites: dict[str, PromptRewrite],
) -> dict[str, LLMResult] | None:
    """Every LLM span re-executed, a few at once. None, and the calls not yet made skipped,
    once the replay is no longer this attempt's to run (cancelled, or given up by the sweeper)."""

    def call(span: SpanRecord) -> LLMResult:
        rewrite = rewrites.get(span.span_id)
        # A new prompt version's config applies unless the replay's own overrides say otherwise.
        chosen = {**(rewrite.parameters if rewrite else {}), **(overrides.get("modelParameters") or {})}
        parameters = merged_parameters(span.invocation_parameters, chosen)
        model_override = overrides.get("model") or (rewrite.model if rewrite else None)
        messages = rewrite.input_messages if rewrite else list(span.input_messages or [])
        try:
            provider, model = resolve_span_model(deps.providers, span, model_override)
        except TraceReplayError as exc:
            return LLMResult(None, None, str(span.model), parameters, rewrite, exc.message)
        if span.provider and span.provider.lower() != provider.name.lower():  # moved elsewhere
            parameters = {
                name: value
                for name, value in parameters.items()
                if name in chosen or provider.understands(name)
            }
        tools = span.tools
        if not tools and overrides.get("reconstructTools"):
            tools = reconstructed_tools(span) or None
        request = CompletionRequest(model, messages, tools, parameters)
        rebuilt = tools if tools is not span.tools else None
        try:
            return LLMResult(
                provider.complete(request), provider.name, model, parameters, rewrite, tools=rebuilt
            )
        except TraceReplayError as exc:
            return LLMResult(None, provider.name, model, parameters, rewrite, exc.message, tools=rebuilt)

    results: dict[str, LLMResult] = {}
    with ThreadPoolExecutor(max_workers=min(SPANS_AT_ONCE, max(1, len(llm_spans)))) as pool:
        futures = {pool.submit(call, span): span for span in llm_spans}
        for future in as_completed(futures):
            span = futures[future]
            result = results[span.span_id] = future.result()
            if not lifecycle.record_progress(deps.sessions, attempt, failed=result.error is not None):
                for pending in futures:
                    pending.cancel()
                return None
    return results


def _replayed_spans(
    replay_id: str,
    trace_id: str,
    spans: list[SpanRecord],
    results: dict[str, LLMResult],
    hints: TraceHints,
    chosen: frozenset[str] = frozenset(),
) -> list[SpanRecord]:
    """The replayed trace: every span copied under its derived id, on the projected timeline,
    LLM spans as the replay ran them (with their fidelity, `chosen` being the arguments the
    replay set itself)."""
    timed = []
    for span in spans:
        result = results.get(span.span_id)
        latency = None
        if result is not None and result.response is not None and span.same_call_as is None:
            latency = timedelta(milliseconds=result.response.latency_ms)
        timed.append(TimedSpan(span.span_id, span.parent_span_id, span.start_time, span.end_time, latency,
                               span.same_call_as))  # fmt: skip
    timeline = project(timed)
    by_id = {span.span_id: span for span in spans}
    replayed = []
    for span in spans:
        start, end = timeline[span.span_id]
        copy = dataclasses.replace(
            span,
            trace_id=trace_id,
            span_id=derived_id(replay_id, span.span_id, 16),
            parent_span_id=derived_id(replay_id, span.parent_span_id, 16) if span.parent_span_id else None,
            same_call_as=derived_id(replay_id, span.same_call_as, 16) if span.same_call_as else None,
            start_time=start,
            end_time=end,
            attributes={**_copied(span.attributes), "tracereplay.source_span_id": span.span_id},
            trace=hints,
        )
        result = results.get(span.span_id)
        if result is not None:
            _apply_result(copy, result)
            sent = by_id.get(span.same_call_as or "", span)  # the record of the call that was re-run
            copy.attributes["tracereplay.replay.fidelity"] = verdict(
                assess(sent, reconstructing=bool(result.tools), chosen=chosen)
            )
        replayed.append(copy)
    _pass_answers_up(spans, replayed, results)
    return replayed


def _copied(attributes: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes for its replayed copy: without the request the app captured (the
    replay sent another) or an earlier replay's verdict."""
    return {key: value for key, value in attributes.items()
            if not key.startswith(("tracereplay.request.", "tracereplay.replay.fidelity"))}  # fmt: skip


def _answer(messages: list[dict[str, Any]] | None) -> str | None:
    """An LLM span's answer: the text of its last message that has text."""
    for message in reversed(messages or []):
        if isinstance(message.get("content"), str) and message["content"]:
            return str(message["content"])
    return None


def _pass_answers_up(
    spans: list[SpanRecord], replayed: list[SpanRecord], results: dict[str, LLMResult]
) -> None:
    """A copied span that returned a model's answer as it was (an agent or chain whose output
    is the answer of an LLM call inside it) returns the replayed answer instead: otherwise the
    replayed trace's final output would be the original's, and comparisons and evaluators
    would judge a stale answer. Outputs that are not one inner answer verbatim stay copied."""
    children: dict[str, list[SpanRecord]] = {}
    for span in spans:
        if span.parent_span_id:
            children.setdefault(span.parent_span_id, []).append(span)
    new_answers = {
        span_id: _answer(result.response.output_messages) or ""
        for span_id, result in results.items()
        if result.response is not None
    }
    for original, copy in zip(spans, replayed, strict=True):
        if original.kind == "LLM" or original.output is None:
            continue
        stack, found = list(children.get(original.span_id, [])), None
        while stack and found is None:
            inner = stack.pop()
            if inner.span_id in new_answers and _answer(inner.output_messages) == original.output:
                found = new_answers[inner.span_id]
            stack.extend(children.get(inner.span_id, []))
        if found is not None:
            copy.output = found


def _apply_result(span: SpanRecord, result: LLMResult) -> None:
    """An LLM span as the replay ran it: new model, parameters, output and usage; the ingest
    service prices it (cost None until then)."""
    span.provider, span.model, span.invocation_parameters = result.provider, result.model, result.parameters
    if result.tools:  # what was sent is what is stored
        span.tools = result.tools
    span.cost = None
    if result.rewrite is not None:  # what was sent, and the version it was rendered from
        span.input_messages = result.rewrite.input_messages
        span.prompt_template = result.rewrite.prompt_template
    response = result.response
    if response is None:
        span.status_code, span.status_message = "ERROR", result.error
        span.output_messages = None
        span.prompt_tokens = span.completion_tokens = span.total_tokens = None
        return
    span.status_code, span.status_message = "OK", None
    span.output_messages, span.output = response.output_messages, None
    span.prompt_tokens = response.prompt_tokens
    span.completion_tokens = response.completion_tokens
    span.total_tokens = response.total_tokens
