"""The sweeper: no replay stays stuck, whatever happened to the worker or the queue.

PENDING replays older than a grace period are enqueued again (running one twice is harmless:
the claim is atomic and replayed span ids are deterministic). RUNNING replays whose worker
stopped sending heartbeats go back to PENDING, or FAILED once they have used their attempts
(`lifecycle.recover_stalled`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from tracereplay.replay.lifecycle import Recovery, recover_stalled

log = logging.getLogger(__name__)


def sweep_replays(
    sessions: sessionmaker[Session],
    enqueue: Callable[[str], None],
    *,
    pending_grace: timedelta = timedelta(seconds=60),
    stale_after: timedelta = timedelta(seconds=30),
    max_attempts: int = 3,
) -> Recovery:
    recovery = recover_stalled(
        sessions, pending_grace=pending_grace, stale_after=stale_after, max_attempts=max_attempts
    )
    for replay_id in recovery.requeued:
        enqueue(replay_id)
    if recovery.requeued or recovery.failed:
        log.info("sweeper: re-enqueued %s, failed %s", recovery.requeued, recovery.failed)
    return recovery
