"""A replay's states and every transition between them; nothing else writes a replay's status.

    PENDING -> RUNNING -> COMPLETED | FAILED        (claim, then finish)
    RUNNING -> PENDING                              (requeue: its worker stopped)
    PENDING | RUNNING -> CANCELLED                  (cancel)

The database row is the system of record. A claim counts an attempt; every later write of a
running replay is guarded by (RUNNING, that attempt), so a worker the sweeper gave up on, or
whose replay was cancelled, can no longer change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Replay, utcnow
from tracereplay.errors import Conflict


class ReplayStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (ReplayStatus.COMPLETED, ReplayStatus.FAILED, ReplayStatus.CANCELLED)


@dataclass(frozen=True)
class Attempt:
    """One worker's run of a replay: what its guarded writes check."""

    replay_id: str
    number: int

    def running(self) -> ColumnElement[bool]:
        return (
            (Replay.replay_id == self.replay_id)
            & (Replay.status == ReplayStatus.RUNNING)
            & (Replay.attempts == self.number)
        )


def claim(sessions: sessionmaker[Session], replay_id: str) -> Attempt | None:
    """PENDING -> RUNNING, atomically: two workers never run the same replay. None when the
    replay is not PENDING (already claimed, finished or cancelled)."""
    with sessions.begin() as session:
        claimed = session.execute(
            update(Replay)
            .where(Replay.replay_id == replay_id, Replay.status == ReplayStatus.PENDING)
            .values(
                status=ReplayStatus.RUNNING,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                attempts=Replay.attempts + 1,
                llm_spans_done=0,  # a retried replay counts its progress from the start
                llm_spans_failed=0,
            )
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        number = session.scalar(select(Replay.attempts).where(Replay.replay_id == replay_id))
        return Attempt(replay_id, int(number or 0))


def _update_running(sessions: sessionmaker[Session], attempt: Attempt, **values: Any) -> bool:
    with sessions.begin() as session:
        updated = session.execute(update(Replay).where(attempt.running()).values(**values))
        return bool(updated.rowcount)  # type: ignore[attr-defined]


def heartbeat(sessions: sessionmaker[Session], attempt: Attempt) -> bool:
    """The attempt's worker is alive; False once the replay is no longer this attempt's."""
    return _update_running(sessions, attempt, heartbeat_at=utcnow())


def record_progress(sessions: sessionmaker[Session], attempt: Attempt, *, failed: bool) -> bool:
    """One more LLM span done (and failed, if so); False once the replay is no longer this
    attempt's to run (cancelled, or given up by the sweeper)."""
    return _update_running(
        sessions,
        attempt,
        llm_spans_done=Replay.llm_spans_done + 1,
        llm_spans_failed=Replay.llm_spans_failed + int(failed),
    )


def finish(
    sessions: sessionmaker[Session],
    attempt: Attempt,
    status: ReplayStatus,
    error: str | None = None,
    result_trace_id: str | None = None,
) -> bool:
    """RUNNING -> COMPLETED or FAILED, if the replay is still this attempt's."""
    if status not in (ReplayStatus.COMPLETED, ReplayStatus.FAILED):
        raise ValueError(f"a run finishes COMPLETED or FAILED, not {status}")
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": utcnow()}
    if result_trace_id is not None:
        values["result_trace_id"] = result_trace_id
    return _update_running(sessions, attempt, **values)


def cancel(session: Session, replay: Replay) -> None:
    """PENDING or RUNNING -> CANCELLED, in the caller's transaction."""
    status = ReplayStatus(replay.status)
    if status.finished:
        raise Conflict(
            f"replay {replay.replay_id} is already {status}; only PENDING or RUNNING replays can be cancelled"
        )
    replay.status = ReplayStatus.CANCELLED
    replay.finished_at = utcnow()
    replay.error = "cancelled by request"


@dataclass
class Recovery:
    requeued: list[str]
    failed: list[str]


def recover_stalled(
    sessions: sessionmaker[Session], *, pending_grace: timedelta, stale_after: timedelta, max_attempts: int
) -> Recovery:
    """RUNNING replays whose heartbeat stopped go back to PENDING, or to FAILED once they have
    used their attempts; returns those to enqueue (with PENDING replays older than
    `pending_grace`, which no queue may hold) and those given up."""
    now = utcnow()
    requeued: list[str] = []
    failed: list[str] = []
    with sessions.begin() as session:
        stalled = session.scalars(
            select(Replay).where(
                Replay.status == ReplayStatus.RUNNING, Replay.heartbeat_at < now - stale_after
            )
        )
        for replay in stalled:
            if replay.attempts >= max_attempts:
                replay.status = ReplayStatus.FAILED
                replay.finished_at = now
                replay.error = (
                    f"the worker running this replay stopped (no heartbeat for {stale_after.seconds} s) "
                    f"{replay.attempts} times; giving up"
                )
                failed.append(replay.replay_id)
            else:
                replay.status = ReplayStatus.PENDING
                requeued.append(replay.replay_id)
        orphans = session.scalars(
            select(Replay.replay_id).where(
                Replay.status == ReplayStatus.PENDING, Replay.created_at < now - pending_grace
            )
        )
        requeued.extend(replay_id for replay_id in orphans if replay_id not in requeued)
    return Recovery(requeued, failed)
