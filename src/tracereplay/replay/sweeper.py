"""The sweeper: no replay stays stuck, whatever happened to the worker or the queue.

PENDING replays older than a grace period are enqueued again (running one twice is harmless:
the claim is atomic and replayed span ids are deterministic). RUNNING replays whose worker
stopped sending heartbeats go back to PENDING, or FAILED once they have used their attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Replay, utcnow
from tracereplay.replay.service import FAILED, PENDING, RUNNING

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    requeued: list[str]
    failed: list[str]


def sweep_replays(
    sessions: sessionmaker[Session],
    enqueue: Callable[[str], None],
    *,
    pending_grace: timedelta = timedelta(seconds=60),
    stale_after: timedelta = timedelta(seconds=30),
    max_attempts: int = 3,
) -> SweepResult:
    now = utcnow()
    requeued: list[str] = []
    failed: list[str] = []
    with sessions.begin() as session:
        stalled = session.scalars(
            select(Replay).where(Replay.status == RUNNING, Replay.heartbeat_at < now - stale_after)
        )
        for replay in stalled:
            if replay.attempts >= max_attempts:
                replay.status = FAILED
                replay.finished_at = now
                replay.error = (
                    f"the worker running this replay stopped (no heartbeat for {stale_after.seconds} s) "
                    f"{replay.attempts} times; giving up"
                )
                failed.append(replay.replay_id)
            else:
                replay.status = PENDING
                requeued.append(replay.replay_id)
        orphans = session.scalars(
            select(Replay.replay_id).where(Replay.status == PENDING, Replay.created_at < now - pending_grace)
        )
        requeued.extend(replay_id for replay_id in orphans if replay_id not in requeued)
    for replay_id in requeued:
        enqueue(replay_id)
    if requeued or failed:
        log.info("sweeper: re-enqueued %s, failed %s", requeued, failed)
    return SweepResult(requeued, failed)
