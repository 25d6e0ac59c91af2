"""Projected timeline of a replayed trace (DESIGN, replay rule 5).

LLM spans take their measured latency; every other span keeps its original duration and is
shifted by the latency change of the LLM spans that finished before it started; parents
stretch to cover their children. The trace's duration delta is what the application would
have felt.
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


def project(spans: list[TimedSpan]) -> dict[str, tuple[datetime, datetime]]:
    """New (start, end) of every span, by span id."""
    deltas = sorted(
        (span.end, span.new_duration - (span.end - span.start))
        for span in spans
        if span.new_duration is not None
    )
    projected: dict[str, tuple[datetime, datetime]] = {}
    for span in spans:
        shift = sum((delta for finished, delta in deltas if finished <= span.start), timedelta())
        start = span.start + shift
        duration = span.new_duration if span.new_duration is not None else span.end - span.start
        projected[span.span_id] = (start, start + duration)
    # Parents stretch to cover their children, deepest first.
    by_id = {span.span_id: span for span in spans}

    def depth(span: TimedSpan) -> int:
        level, parent = 0, span.parent_span_id
        while parent in by_id and level < len(spans):
            level, parent = level + 1, by_id[parent].parent_span_id
        return level

    for span in sorted(spans, key=depth, reverse=True):
        parent = span.parent_span_id
        if parent in projected:
            child_start, child_end = projected[span.span_id]
            parent_start, parent_end = projected[parent]
            projected[parent] = (min(parent_start, child_start), max(parent_end, child_end))
    return projected
