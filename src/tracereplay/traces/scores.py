"""A trace's scores, added from outside (the API, a person), and read. Evaluator scores are
written by the evaluation pipeline (`evals.pipeline`); `traces.queries` reads them with the
traces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Score, Span, utcnow
from tracereplay.errors import NotFound, Unprocessable
from tracereplay.traces.queries import ScoreView, find_trace, scores_of

__all__ = ["ScoreView", "add_score", "scores_of", "trace_scores"]

SOURCES = ("api", "human")


def trace_scores(
    sessions: sessionmaker[Session], project_rowid: int, trace_id: str, retention_days: int = 0
) -> list[ScoreView]:
    with sessions() as session:
        trace = find_trace(session, project_rowid, trace_id, retention_days)
        return scores_of(session, [trace.id]).get(trace.id, [])


def add_score(
    sessions: sessionmaker[Session],
    project_rowid: int,
    trace_id: str,
    name: str,
    *,
    value: float | bool | str,
    reasoning: str | None = None,
    source: str = "api",
    span_id: str | None = None,
    retention_days: int = 0,
) -> ScoreView:
    """A score given from outside: a number, a boolean (stored as 1 or 0) or a label."""
    if source not in SOURCES:
        raise Unprocessable(f'a score\'s source is "api" or "human", not {source!r}')
    if not name.strip() or len(name) > 200:
        raise Unprocessable("a score's name is 1 to 200 characters")
    if isinstance(value, bool):
        data_type, number, label = "boolean", 1.0 if value else 0.0, None
    elif isinstance(value, int | float):
        data_type, number, label = "numeric", float(value), None
    else:
        data_type, number, label = "categorical", None, value
    with sessions.begin() as session:
        trace = find_trace(session, project_rowid, trace_id, retention_days)
        span_rowid = None
        if span_id is not None:
            span_rowid = session.scalar(
                select(Span.id).where(Span.trace_rowid == trace.id, Span.span_id == span_id.lower())
            )
            if span_rowid is None:
                raise NotFound(f"span {span_id} not found in trace {trace.trace_id}")
        score = Score(
            trace_rowid=trace.id, span_rowid=span_rowid, name=name, data_type=data_type, value=number,
            string_value=label, source=source, comment=reasoning, created_at=utcnow(),
        )  # fmt: skip
        session.add(score)
        session.flush()
        return ScoreView(
            name=name, data_type=data_type, value=number, label=label, source=source, config_version=None,
            reasoning=reasoning, details=None, error=None, span_id=span_id.lower() if span_id else None,
            created_at=score.created_at,
        )  # fmt: skip
