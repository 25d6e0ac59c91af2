"""One comparison document for a base and a target trace: summary deltas, aligned spans with
their own deltas and what changed in each pair, the final outputs' difference, and every score
of either side. For a replay, the original is the base and spans pair through the replay's id
mapping; any two traces of a project pair by tree position and names.

A pair in the document says whether its input and output changed; the similarity and the
word-level and structural diffs of one pair come from `compare_spans`, asked for when someone
opens that pair. Two 2,000-span traces with long outputs compare in well under 200 ms
this way, where every pair's word diff would take seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tracereplay.compare.align import Alignment, align_by_ids, align_by_shape
from tracereplay.compare.diffs import json_diff, output_change, output_diff, tool_call_diff
from tracereplay.compare.summary import METRICS, delta, summary
from tracereplay.errors import Unprocessable
from tracereplay.evals.subjects import Subject
from tracereplay.ingest.records import SpanRecord
from tracereplay.replay.executor import derived_id
from tracereplay.replay.service import get_replay
from tracereplay.traces.queries import ScoreView, TraceDetail, get_span, get_trace, latest_scores

SPAN_METRICS = [metric for metric in METRICS if metric.name in ("duration_ms", "total_tokens", "cost")]


def _text_output(span: SpanRecord) -> str | None:
    for message in reversed(span.output_messages or []):
        if isinstance(message.get("content"), str) and message["content"]:
            return str(message["content"])
    return span.output


def _calls(span: SpanRecord) -> list[dict[str, Any]]:
    return [call for message in span.output_messages or [] for call in message.get("tool_calls") or []]


def _brief(span: SpanRecord, start: datetime | None = None) -> dict[str, Any]:
    """Who the span is, and where it sits on its trace's timeline (ms from `start`, its
    trace's first span): what an aligned waterfall draws."""
    offset = (span.start_time - start).total_seconds() * 1000 if start is not None else None
    return {"span_id": span.span_id, "name": span.name, "kind": span.kind, "offset_ms": offset,
            "duration_ms": span.duration_ms}  # fmt: skip


def _start(spans: list[SpanRecord]) -> datetime | None:
    return min((span.start_time for span in spans), default=None)


def _pair(
    base: SpanRecord,
    target: SpanRecord,
    starts: tuple[datetime | None, datetime | None] = (None, None),
    *,
    detailed: bool = False,
) -> dict[str, Any]:
    """A pair's deltas and changes; `detailed` adds the diffs themselves (input paths, output
    segments), else input and output say only whether they changed."""
    pair: dict[str, Any] = {
        "base": _brief(base, starts[0]),
        "target": _brief(target, starts[1]),
        "deltas": [vars(delta(m, getattr(base, m.name), getattr(target, m.name))) for m in SPAN_METRICS],
    }
    outputs = (base.output, target.output)
    if base.kind == "LLM" or target.kind == "LLM":
        pair["model"] = {"base": base.model, "target": target.model, "changed": base.model != target.model}
        pair["parameters"] = json_diff(base.invocation_parameters or {}, target.invocation_parameters or {})
        versions = [(span.prompt_template or {}).get("version") for span in (base, target)]
        pair["prompt_version"] = {
            "base": versions[0],
            "target": versions[1],
            "changed": versions[0] != versions[1],
        }
        inputs = (base.input_messages or [], target.input_messages or [])
        pair["input"] = json_diff(*inputs) if detailed else {"kind": "json", "same": inputs[0] == inputs[1]}
        pair["tool_calls"] = tool_call_diff(_calls(base), _calls(target))
        if "tracereplay.replay.fidelity" in (target.attributes or {}):  # a replayed call's verdict
            pair["fidelity"] = target.attributes["tracereplay.replay.fidelity"]
        outputs = (_text_output(base), _text_output(target))
    pair["output"] = output_diff(*outputs) if detailed else output_change(*outputs)
    return pair


def _score_rows(base: list[ScoreView], target: list[ScoreView]) -> list[dict[str, Any]]:
    """Every score name of either side: values, delta and verdict (higher is better); an error
    or a missing side is shown as such, never as 0."""
    before = {score.name: score for score in latest_scores(base)}
    after = {score.name: score for score in latest_scores(target)}
    rows = []
    for name in sorted(before.keys() | after.keys()):
        sides = [before.get(name), after.get(name)]
        row: dict[str, Any] = {"name": name}
        for side, score in zip(("base", "target"), sides, strict=True):
            row[side] = None if score is None else {
                "status": score.status, "value": score.value, "label": score.label, "error": score.error,
                "data_type": score.data_type,
            }  # fmt: skip
        a, b = sides
        if a is None or b is None or a.error is not None or b.error is not None:
            row["delta"], row["verdict"] = None, "missing" if a is None or b is None else "error"
        elif a.data_type == "categorical":
            row["delta"], row["verdict"] = None, "same" if a.label == b.label else "changed"
        elif a.value is None or b.value is None:
            row["delta"], row["verdict"] = None, "unknown"
        else:
            row["delta"] = b.value - a.value
            row["verdict"] = "same" if b.value == a.value else ("better" if b.value > a.value else "worse")
        rows.append(row)
    return rows


def _final_output(detail: TraceDetail) -> str | None:
    return Subject(detail.trace.trace_id, detail.spans, output=detail.trace.output).final_output


def _document(
    base: TraceDetail, target: TraceDetail, alignment: Alignment, replay_id: str | None
) -> dict[str, Any]:
    starts = (_start(base.spans), _start(target.spans))
    return {
        "base": {"trace_id": base.trace.trace_id, "name": base.trace.name},
        "target": {"trace_id": target.trace.trace_id, "name": target.trace.name},
        "replay_id": replay_id,
        "summary": [vars(item) for item in summary(base.trace, target.trace)],
        "spans": {
            "pairs": [_pair(a, b, starts) for a, b in alignment.pairs],
            "removed": [_brief(span, starts[0]) for span in alignment.removed],
            "added": [_brief(span, starts[1]) for span in alignment.added],
        },
        "output": output_diff(_final_output(base), _final_output(target)),
        "scores": _score_rows(base.scores, target.scores),
    }


def compare_traces(
    sessions: sessionmaker[Session], project_rowid: int, base_id: str, target_id: str, retention_days: int = 0
) -> dict[str, Any]:
    """Any two traces of a project (a replayed trace and its original pair by the replay's ids)."""
    if base_id.lower() == target_id.lower():
        raise Unprocessable("base and target are the same trace; compare two different traces")
    base = get_trace(sessions, project_rowid, base_id, retention_days)
    target = get_trace(sessions, project_rowid, target_id, retention_days)
    replay_id = target.trace.replay_id if target.trace.source_trace_id == base.trace.trace_id else None
    if replay_id is not None:
        alignment = align_by_ids(base.spans, target.spans, lambda span_id: derived_id(replay_id, span_id, 16))
    else:
        alignment = align_by_shape(base.spans, target.spans)
    return _document(base, target, alignment, replay_id)


def compare_replay(
    sessions: sessionmaker[Session], project_rowid: int, replay_id: str, retention_days: int = 0
) -> dict[str, Any]:
    """A replay's original (base) against its replayed trace (target)."""
    replay = get_replay(sessions, project_rowid, replay_id)
    if replay.result_trace_id is None:
        raise Unprocessable(
            f"replay {replay_id} has no replayed trace yet (status {replay.status.value}); "
            "compare it once it has completed or failed"
        )
    return compare_traces(sessions, project_rowid, replay.trace_id, replay.result_trace_id, retention_days)


def compare_spans(
    sessions: sessionmaker[Session],
    project_rowid: int,
    base: tuple[str, str],
    target: tuple[str, str],
    retention_days: int = 0,
) -> dict[str, Any]:
    """One pair of spans, each a (trace id, span id), with its diffs in full: the input's
    changed paths, the output's word segments or structural changes, tool calls, parameters."""
    base_span, _ = get_span(sessions, project_rowid, *base, retention_days)
    target_span, _ = get_span(sessions, project_rowid, *target, retention_days)
    return _pair(base_span, target_span, detailed=True)
