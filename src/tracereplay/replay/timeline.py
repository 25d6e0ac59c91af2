"""Projected timeline of a replayed trace (DESIGN, replay rule 5).

LLM spans take their measured latency. Every other moment moves by the latency change of the
LLM spans that finished before it: a span's start by those that finished before it started,
its end by those that finished before it ended. A tool call keeps its duration; a parent grows
or shrinks with the LLM calls inside it (an agent whose model answered 2 s sooner ends 2 s
sooner), and still covers its children. The trace's duration delta is what the application
would have felt.
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

    def shift(moment: datetime) -> timedelta:
        return sum((delta for finished, delta in deltas if finished <= moment), timedelta())

    for span in spans:
        start = span.start + shift(span.start)
        if span.new_duration is not None:
            end = start + span.new_duration
        else:
            end = max(span.end + shift(span.end), start)
        projected[span.span_id] = (start, end)
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
