"""The evaluation pipeline: enabled evaluators score a completed replay's trace and its
original, as jobs on the replay queue.

A trace is scored once per evaluator and configuration version: what is already scored is
skipped, and the insert ignores a score another run stored meanwhile, so a job that runs twice
(a worker killed mid-evaluation, the job requeued) leaves one score each. An evaluator that
cannot judge, or fails, stores an error on that score, never a value.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, Table, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Evaluator, EvaluatorConfig, Replay, Score, Trace, utcnow
from tracereplay.db.upsert import upsert
from tracereplay.errors import NotFound
from tracereplay.evals.judge import JUDGE_ENVIRONMENT, JudgeContext
from tracereplay.evals.service import evaluator_types
from tracereplay.evals.subjects import EvaluationError, Outcome, Subject
from tracereplay.ingest.service import Ingestion
from tracereplay.providers.registry import Providers
from tracereplay.replay.lifecycle import ReplayStatus
from tracereplay.traces.queries import find_trace, trace_spans

log = logging.getLogger(__name__)
SCORES: Table = Score.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class EvalServices:
    """The worker's models and ingestion, for evaluators that call a model (`llm_judge`)."""

    providers: Providers
    ingest: Ingestion

    def yield_to_ingestion(self, most: float = 0.2) -> None:
        """Wait (at most `most` seconds) while span writes are queued: in a server process,
        evaluation shares one interpreter with ingestion, and ingestion comes first."""
        deadline = time.monotonic() + most
        while self.ingest.backlog() and time.monotonic() < deadline:
            time.sleep(0.005)


@dataclass(frozen=True)
class Scoring:
    """One evaluator, at its current configuration, as a job runs it."""

    rowid: int
    name: str
    type: str
    config: dict[str, object]
    config_version: int


def subject(session: Session, trace: Trace) -> Subject:
    return Subject(
        trace_id=trace.trace_id,
        spans=trace_spans(session, trace),
        duration_ms=trace.duration_ms,
        cost=trace.cost,
        input=trace.input,
        output=trace.output,
    )


def _original_of(session: Session, trace: Trace) -> Subject | None:
    """The trace a replayed trace replays, if it is one and is still stored."""
    if trace.source_trace_id is None:
        return None
    source = session.scalar(
        select(Trace).where(
            Trace.project_rowid == trace.project_rowid, Trace.trace_id == trace.source_trace_id
        )
    )
    return subject(session, source) if source is not None else None


def with_config(*conditions: Any) -> Select[tuple[Evaluator, dict[str, Any]]]:
    """The evaluators matching `conditions`, each with its current configuration."""
    current = (EvaluatorConfig.evaluator_rowid == Evaluator.id) & (
        EvaluatorConfig.version == Evaluator.config_version
    )
    return select(Evaluator, EvaluatorConfig.config).join(EvaluatorConfig, current).where(*conditions)


def scorings(session: Session, *conditions: Any) -> list[Scoring]:
    """The evaluators matching `conditions`, by name, as a job runs them."""
    rows = session.execute(with_config(*conditions).order_by(Evaluator.name))
    return [Scoring(e.id, e.name, e.type, config, e.config_version) for e, config in rows]


def _enabled(session: Session, project_rowid: int, target: str) -> list[Scoring]:
    return scorings(
        session, Evaluator.project_rowid == project_rowid, Evaluator.enabled, Evaluator.target == target
    )


def _scored(session: Session, trace_rowid: int) -> dict[tuple[int | None, int | None], bool]:
    """(evaluator, configuration version) -> whether that score is an error."""
    rows = session.execute(
        select(Score.evaluator_rowid, Score.config_version, Score.error).where(
            Score.trace_rowid == trace_rowid
        )
    )
    return {(evaluator, version): error is not None for evaluator, version, error in rows}


def judge(
    scoring: Scoring, target: Subject, original: Subject | None, context: JudgeContext | None
) -> Outcome | str:
    """The evaluator's outcome, or the error that kept it from judging."""
    kind = evaluator_types().get(scoring.type)
    if kind is None:
        return f"evaluator type {scoring.type!r} is not installed on this worker"
    try:
        if kind.needs_context:
            return kind.evaluate(scoring.config, target, original, context)
        return kind.evaluate(scoring.config, target, original)
    except EvaluationError as exc:
        return str(exc)
    except Exception as exc:  # a broken evaluator fails its score, not the job
        log.exception("evaluator %s failed on trace %s", scoring.name, target.trace_id)
        return f"the evaluator failed: {type(exc).__name__}: {exc}"


def _store(session: Session, trace_rowid: int, outcomes: list[tuple[Scoring, Outcome | str]]) -> None:
    """Insert the scores, skipping any another run stored meanwhile."""
    rows = []
    for scoring, outcome in outcomes:
        row: dict[str, object] = {
            "trace_rowid": trace_rowid, "name": scoring.name, "source": "evaluator",
            "evaluator_rowid": scoring.rowid, "config_version": scoring.config_version,
            "created_at": utcnow(),
        }  # fmt: skip
        if isinstance(outcome, str):
            row |= {"data_type": "numeric", "value": None, "string_value": None, "comment": None,
                    "details": None, "error": outcome}  # fmt: skip
        else:
            row |= {"data_type": outcome.type, "value": outcome.value, "string_value": outcome.label,
                    "comment": outcome.reasoning, "details": outcome.details or None,
                    "error": None}  # fmt: skip
        rows.append(row)
    dialect = session.get_bind().dialect.name
    session.execute(upsert(dialect, SCORES, ["trace_rowid", "evaluator_rowid", "config_version"]), rows)


def score_trace(
    sessions: sessionmaker[Session],
    trace_rowid: int,
    scorings: list[Scoring],
    services: EvalServices | None,
    *,
    retry_errors: bool = False,
) -> int:
    """Score one trace with each of `scorings` that has not scored it at its configuration
    version (with `retry_errors`, an error score is replaced); a replayed trace is judged with
    its original. Judge calls' own traces are never scored. Returns how many scores it stored."""
    with sessions() as session:
        trace = session.get(Trace, trace_rowid)
        if trace is None or trace.environment == JUDGE_ENVIRONMENT:  # purged since, or a judge's call
            return 0
        done = _scored(session, trace.id)
        todo = [
            s for s in scorings
            if (key := (s.rowid, s.config_version)) not in done or (retry_errors and done[key])
        ]  # fmt: skip
        if not todo:
            return 0
        target, original = subject(session, trace), _original_of(session, trace)
        project_rowid = trace.project_rowid
    context = None if services is None else JudgeContext(services.providers, services.ingest, project_rowid)
    if services is not None:
        services.yield_to_ingestion()
    outcomes = [(scoring, judge(scoring, target, original, context)) for scoring in todo]
    try:
        with sessions.begin() as session:  # one commit for the trace's scores
            if retry_errors:
                for scoring in todo:
                    session.execute(
                        delete(Score).where(
                            Score.trace_rowid == trace_rowid, Score.evaluator_rowid == scoring.rowid,
                            Score.config_version == scoring.config_version, Score.error.is_not(None),
                        )
                    )  # fmt: skip
            _store(session, trace_rowid, outcomes)
    except IntegrityError:  # the trace was purged, or an evaluator removed, while it was judged
        log.info("scores of trace row %s dropped: the trace or an evaluator is gone", trace_rowid)
        return 0
    return len(todo)


def evaluate_replay(
    sessions: sessionmaker[Session], replay_id: str, services: EvalServices | None = None
) -> int:
    """Score a completed replay's trace with every enabled `replays` evaluator (given the
    original), and its original with the ones that judge a trace alone and have not scored it
    at this configuration; marks the replay evaluated. Returns how many scores it stored."""
    with sessions() as session:
        replay = session.scalar(select(Replay).where(Replay.replay_id == replay_id))
        if replay is None or replay.status != ReplayStatus.COMPLETED or replay.result_trace_id is None:
            return 0
        result_rowid = session.scalar(
            select(Trace.id).where(
                Trace.project_rowid == replay.project_rowid, Trace.trace_id == replay.result_trace_id
            )
        )
        original_rowid = replay.source_trace_rowid
        scorings = _enabled(session, replay.project_rowid, "replays")
    alone = [s for s in scorings if (kind := evaluator_types().get(s.type)) and not kind.compares(s.config)]
    stored = score_trace(sessions, result_rowid, scorings, services) if result_rowid is not None else 0
    stored += score_trace(sessions, original_rowid, alone, services)
    with sessions.begin() as session:
        session.execute(update(Replay).where(Replay.replay_id == replay_id).values(evaluated_at=utcnow()))
    return stored


def unevaluated_replays(sessions: sessionmaker[Session], older_than: timedelta) -> list[str]:
    """Completed replays whose evaluation never ran (its job was lost: a crash between the
    replay's end and the enqueue, a queue emptied), finished more than `older_than` ago."""
    cutoff = utcnow() - older_than
    with sessions() as session:
        return list(
            session.scalars(
                select(Replay.replay_id)
                .where(
                    Replay.status == ReplayStatus.COMPLETED,
                    Replay.evaluated_at.is_(None),
                    Replay.finished_at < cutoff,
                )
                .limit(500)
            )
        )


def preview(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    trace_id: str,
    services: EvalServices | None,
) -> Outcome | str:
    """What evaluator `name` says of one trace now (a replay judged with its original), stored
    nowhere: a rubric is tried before it scores traffic. An error is returned as its text."""
    with sessions() as session:
        found = scorings(session, Evaluator.project_rowid == project_rowid, Evaluator.name == name)
        if not found:
            raise NotFound(
                f"no evaluator named {name[:80]!r} in this project; GET /api/v1/evaluators lists them"
            )
        scoring = found[0]
        trace = find_trace(session, project_rowid, trace_id)
        if trace.environment == JUDGE_ENVIRONMENT:
            return "this trace is a judge's own call; evaluators do not score judge calls"
        target, original = subject(session, trace), _original_of(session, trace)
    context = None if services is None else JudgeContext(services.providers, services.ingest, project_rowid)
    return judge(scoring, target, original, context)
