"""Span trees laid out on a timeline: each span's depth, and where its bar starts and how wide
it is, in percent of the trace. Pure functions over span records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tracereplay.compare.align import tree_order
from tracereplay.ingest.records import SpanRecord


@dataclass(frozen=True)
class Row:
    span: SpanRecord
    depth: int
    offset: float  # percent of the trace's time span where the bar starts
    width: float  # percent of it the bar covers


@dataclass(frozen=True)
class Frame:
    """A trace's time span: the earliest start to the latest end of its spans."""

    start: datetime
    total_ms: float

    @classmethod
    def of(cls, spans: Sequence[SpanRecord]) -> Frame:
        if not spans:
            return cls(datetime.min, 0.0)
        start = min(span.start_time for span in spans)
        end = max(span.end_time for span in spans)
        return cls(start, (end - start).total_seconds() * 1000)

    def place(self, span: SpanRecord) -> tuple[float, float]:
        if self.total_ms <= 0:
            return 0.0, 100.0
        offset = (span.start_time - self.start).total_seconds() * 1000 / self.total_ms * 100
        return round(offset, 3), round(max(span.duration_ms / self.total_ms * 100, 0.0), 3)


def waterfall(spans: Sequence[SpanRecord]) -> list[Row]:
    """Rows in tree order (depth first, children by start time)."""
    frame = Frame.of(spans)
    return [Row(span, depth, *frame.place(span)) for depth, span in tree_order(spans)]
