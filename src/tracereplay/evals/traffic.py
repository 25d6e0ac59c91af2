"""Evaluators on live traffic (target `all`), and on demand for chosen traces.

Traffic: a periodic job scores each new trace once it has been quiet (no span for
`TRACEREPLAY_EVALUATION_QUIET_SECONDS`), walking the project's traces in the order they were
last written from where the evaluator's previous run stopped (its watermark), so a trace is
considered once however long the backlog. Sampling is a hash of the trace id, not a random
draw: two evaluators at 10% choose the same traces, and a run repeated after a crash chooses
the same ones again. Replayed traces are left to the `replays` evaluators, and the traces of
the reserved judge environment are never scored.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Evaluator, Trace, TraceTag, utcnow
from tracereplay.errors import NotFound, Unprocessable
from tracereplay.evals.judge import JUDGE_ENVIRONMENT
from tracereplay.evals.pipeline import EvalServices, Scoring, score_trace, scorings, with_config
from tracereplay.evals.service import evaluator_types
from tracereplay.traces.queries import TraceFilter, list_traces

MAX_ON_DEMAND = 10_000  # traces per on-demand request
EVALUATION_CHUNK = 100  # traces per on-demand job
SCAN_LIMIT = 1000  # traces per evaluator per run; the next run goes on from the watermark


def sampled(trace_id: str, rate: float) -> bool:
    """Whether a trace falls in an evaluator's sample: the same answer for every evaluator at
    the same rate, every time."""
    if rate >= 1:
        return True
    bucket = int.from_bytes(hashlib.sha256(trace_id.encode()).digest()[:8], "big") / 2**64
    return bucket < rate


def _traffic_evaluators(session: Session) -> list[tuple[Evaluator, dict[str, object]]]:
    rows = session.execute(with_config(Evaluator.enabled, Evaluator.target == "all").order_by(Evaluator.id))
    return [(evaluator, config) for evaluator, config in rows]


def _candidates(
    session: Session, evaluator: Evaluator, since: tuple[datetime, int], horizon: datetime
) -> list[tuple[int, str, datetime]]:
    """The next traces for an evaluator after `since` (last write, row id), quiet since `horizon`."""
    conditions = [
        Trace.project_rowid == evaluator.project_rowid,
        or_(Trace.updated_at > since[0], and_(Trace.updated_at == since[0], Trace.id > since[1])),
        Trace.updated_at <= horizon,
        Trace.source_trace_id.is_(None),
        or_(Trace.environment.is_(None), Trace.environment != JUDGE_ENVIRONMENT),
    ]
    wanted = evaluator.filter or {}
    if "name" in wanted:
        conditions.append(Trace.name == wanted["name"])
    if "environment" in wanted:
        conditions.append(Trace.environment == wanted["environment"])
    for tag in wanted.get("tags", []):
        conditions.append(exists().where(TraceTag.trace_rowid == Trace.id, TraceTag.tag == tag))
    rows = session.execute(
        select(Trace.id, Trace.trace_id, Trace.updated_at)
        .where(*conditions)
        .order_by(Trace.updated_at, Trace.id)
        .limit(SCAN_LIMIT)
    )
    return [(rowid, trace_id, updated_at) for rowid, trace_id, updated_at in rows]


def _advance(sessions: sessionmaker[Session], evaluator_rowid: int, last: datetime, rowid: int) -> None:
    """Move the watermark forward, never back (another process may have gone further)."""
    behind = or_(
        Evaluator.scanned_until.is_(None),
        Evaluator.scanned_until < last,
        and_(Evaluator.scanned_until == last, func.coalesce(Evaluator.scanned_rowid, 0) < rowid),
    )
    with sessions.begin() as session:
        session.execute(
            update(Evaluator)
            .where(Evaluator.id == evaluator_rowid, behind)
            .values(scanned_until=last, scanned_rowid=rowid)
        )


def evaluate_traffic(
    sessions: sessionmaker[Session],
    quiet: timedelta,
    services: EvalServices | None = None,
    budget: timedelta = timedelta(seconds=50),
) -> int:
    """One run of the traffic job: every enabled `all` evaluator scores the sampled traces
    quiet for `quiet` since its last run, batch after batch until it has caught up or the run
    has used its `budget` (the next run goes on). Returns how many scores it stored."""
    horizon = utcnow() - quiet
    deadline = time.monotonic() + budget.total_seconds()
    with sessions() as session:
        evaluators = _traffic_evaluators(session)
    stored = 0
    for evaluator, config in evaluators:
        kind = evaluator_types().get(evaluator.type)
        if kind is None or kind.compares(config):
            continue  # live traces have no original to compare with
        scoring = Scoring(evaluator.id, evaluator.name, evaluator.type, config, evaluator.config_version)
        since = (evaluator.scanned_until or evaluator.created_at, evaluator.scanned_rowid or 0)
        while time.monotonic() < deadline:
            with sessions() as session:
                candidates = _candidates(session, evaluator, since, horizon)
            for trace_rowid, trace_id, _ in candidates:
                if sampled(trace_id, evaluator.sampling_rate):
                    stored += score_trace(sessions, trace_rowid, [scoring], services)
            if not candidates:
                break
            last_rowid, _, last = candidates[-1]
            _advance(sessions, evaluator.id, last, last_rowid)
            since = (last, last_rowid)
            if len(candidates) < SCAN_LIMIT:
                break
    return stored


def _resolve(
    session: Session,
    project_rowid: int,
    trace_ids: Sequence[str],
    evaluators: Sequence[str],
    *,
    strict: bool = True,
) -> tuple[list[Scoring], dict[str, int]]:
    """The named evaluators (enabled or not; every enabled one when none is named) and the
    traces' row ids; NotFound naming what does not exist (without `strict`, in a job queued
    earlier, what was removed since is skipped)."""
    chosen = Evaluator.name.in_(list(evaluators)) if evaluators else Evaluator.enabled
    named = scorings(session, Evaluator.project_rowid == project_rowid, chosen)
    missing = sorted(set(evaluators) - {scoring.name for scoring in named})
    if missing and strict:
        raise NotFound(
            f"no evaluator named {', '.join(missing)} in this project; GET /api/v1/evaluators lists them"
        )
    if not named and strict:
        raise NotFound("this project has no enabled evaluator; create one with POST /api/v1/evaluators")
    rowids: dict[str, int] = {}
    for start in range(0, len(trace_ids), 1000):
        chunk = [trace_id.lower() for trace_id in trace_ids[start : start + 1000]]
        found = session.execute(
            select(Trace.trace_id, Trace.id).where(
                Trace.project_rowid == project_rowid, Trace.trace_id.in_(chunk)
            )
        )
        rowids.update((trace_id, rowid) for trace_id, rowid in found)
    unknown = sorted({trace_id.lower() for trace_id in trace_ids} - set(rowids))
    if unknown and strict:
        raise NotFound(
            f"not in this project: trace {', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}"
        )
    return named, rowids


def evaluate_traces(
    sessions: sessionmaker[Session],
    project_rowid: int,
    trace_ids: Sequence[str],
    evaluators: Sequence[str] = (),
    services: EvalServices | None = None,
    *,
    retry_errors: bool = True,
    strict: bool = True,
) -> int:
    """On demand: score these traces with the named evaluators (enabled or not), or with every
    enabled one; a replayed trace is judged against its original, and an error score is
    replaced by a new attempt. Returns the scores stored."""
    with sessions() as session:
        scorings, rowids = _resolve(session, project_rowid, trace_ids, evaluators, strict=strict)
    return sum(
        score_trace(sessions, rowid, scorings, services, retry_errors=retry_errors)
        for rowid in rowids.values()
    )


def request_evaluation(
    sessions: sessionmaker[Session],
    project_rowid: int,
    trace_ids: Sequence[str],
    evaluators: Sequence[str],
    enqueue: Callable[[int, list[str], list[str]], None],
) -> int:
    """Check the request (404 naming unknown evaluators or traces), then queue it as jobs of
    `EVALUATION_CHUNK` traces; returns how many traces were queued."""
    if not trace_ids:
        raise Unprocessable("no trace to evaluate: give trace ids, or a filter that matches some traces")
    if len(trace_ids) > MAX_ON_DEMAND:
        raise Unprocessable(f"at most {MAX_ON_DEMAND} traces per request; narrow the filter")
    with sessions() as session:
        _, rowids = _resolve(session, project_rowid, trace_ids, evaluators)
    ids = list(rowids)
    for start in range(0, len(ids), EVALUATION_CHUNK):
        enqueue(project_rowid, ids[start : start + EVALUATION_CHUNK], list(evaluators))
    return len(ids)


def traces_matching(
    sessions: sessionmaker[Session], project_rowid: int, filters: TraceFilter, retention_days: int = 0
) -> list[str]:
    """The ids of the traces the trace list would show for `filters`, newest first, up to one
    more than `MAX_ON_DEMAND` (so a request for too many is refused, not cut short)."""
    found: list[str] = []
    cursor = None
    while len(found) <= MAX_ON_DEMAND:
        page = list_traces(
            sessions, project_rowid, filters, limit=500, cursor=cursor, retention_days=retention_days
        )
        found += [trace.trace_id for trace in page.traces]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found[: MAX_ON_DEMAND + 1]
