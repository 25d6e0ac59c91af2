"""Projected timeline of a replayed trace (DESIGN, replay rule 5).

LLM spans take their measured latency. A span starts later or sooner by the latency change of
the LLM spans that finished before it started. A span without children keeps its duration. A
span with children ends its own trailing time after its last child ends: an agent whose model
answered 2 s sooner ends 2 s sooner, and one whose tool ran beside the model ends when the
tool does. Parents still cover their children. The trace's duration delta is what the
application would have felt. A span that records the same call as another (`same_call_as`)
keeps its place around that span's new time, and its latency is not counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class TimedSpan:
    span_id: str
    parent_span_id: str | None
    start: datetime
    end: datetime
    new_duration: timedelta | None = None  # measured latency, for re-executed LLM spans
    same_call_as: str | None = None  # the span that records the same call, and took its latency


def project(spans: list[TimedSpan]) -> dict[str, tuple[datetime, datetime]]:
    """New (start, end) of every span, by span id."""
    deltas = sorted(
        (span.end, span.new_duration - (span.end - span.start))
        for span in spans
        if span.new_duration is not None
    )

    def shift(moment: datetime) -> timedelta:
        return sum((delta for finished, delta in deltas if finished <= moment), timedelta())

    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[TimedSpan]] = {}
    for span in spans:
        if span.parent_span_id in by_id:
            children.setdefault(str(span.parent_span_id), []).append(span)
    projected: dict[str, tuple[datetime, datetime]] = {}
    for span in spans:
        start = span.start + shift(span.start)
        duration = span.new_duration if span.new_duration is not None else span.end - span.start
        projected[span.span_id] = (start, start + duration)
    for span in spans:
        call = by_id.get(span.same_call_as or "")
        if call is not None and span.new_duration is None:
            call_start, call_end = projected[call.span_id]
            start = call_start + (span.start - call.start)
            projected[span.span_id] = (start, max(start, call_end - (call.end - span.end)))

    def depth(span: TimedSpan) -> int:
        level, parent = 0, span.parent_span_id
        while parent in by_id and level < len(spans):
            level, parent = level + 1, by_id[parent].parent_span_id
        return level

    # Children before parents: a parent's end follows its last child's, plus its own tail.
    for span in sorted(spans, key=depth, reverse=True):
        inner = children.get(span.span_id)
        if not inner:
            continue
        start, end = projected[span.span_id]
        if span.new_duration is None:
            tail = max(span.end - max(child.end for child in inner), timedelta())
            end = max(projected[child.span_id][1] for child in inner) + tail
        first = min(projected[child.span_id][0] for child in inner)
        last = max(projected[child.span_id][1] for child in inner)
        projected[span.span_id] = (min(start, first), max(end, last, start))
    return projected
