"""What an evaluator looks at: a stored trace as plain data, and the verdict it gives.

Pure data and functions, no I/O: the pipeline loads a trace (and, for a replay, its original)
into `Subject`s, an evaluator type turns them into an `Outcome`, and the pipeline stores it as a
score. An evaluator that cannot judge raises `EvaluationError`; the score then records that
error, never a pass or a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tracereplay.ingest.records import SpanRecord

ScoreType = Literal["numeric", "boolean", "categorical"]


class EvaluationError(Exception):
    """The evaluator could not judge this trace; the message says why (stored on the score)."""


@dataclass(frozen=True)
class Outcome:
    """A verdict: a number (booleans are 1 or 0), or a label from a list, with its reasoning."""

    type: ScoreType
    value: float | None = None
    label: str | None = None
    reasoning: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def passed(cls, ok: bool, reasoning: str, **details: Any) -> Outcome:
        return cls("boolean", 1.0 if ok else 0.0, reasoning=reasoning, details=details)

    @property
    def boolean(self) -> bool | None:
        return None if self.type != "boolean" or self.value is None else self.value == 1.0


@dataclass(frozen=True)
class Subject:
    """A stored trace as evaluators see it: its totals and its spans, ordered by start time."""

    trace_id: str
    spans: list[SpanRecord]
    duration_ms: float | None = None
    cost: float | None = None
    input: str | None = None
    output: str | None = None

    @property
    def llm_spans(self) -> list[SpanRecord]:
        """One span per LLM call (a second record of a call, `same_call_as`, is left out)."""
        return [span for span in self.spans if span.kind == "LLM" and span.same_call_as is None]

    @property
    def final_output(self) -> str | None:
        """The trace's answer: its root span's output, else the last LLM span's last message."""
        if self.output is not None:
            return self.output
        for span in reversed(self.llm_spans):
            for message in reversed(span.output_messages or []):
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):  # parts: the text ones, joined
                    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return None

    def require_output(self) -> str:
        output = self.final_output
        if output is None:
            raise EvaluationError(
                f"trace {self.trace_id} has no final output (no root output, no LLM answer)"
            )
        return output
