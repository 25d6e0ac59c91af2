"""Retention: delete traces (with their spans, tags and scores) older than the window."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import LogRecord, Trace
from tracereplay.traces.queries import retention_cutoff

log = logging.getLogger(__name__)
BATCH = 500


def purge_expired_traces(sessions: sessionmaker[Session], retention_days: int) -> int:
    """Delete expired traces in small transactions so ingestion is never blocked for long."""
    cutoff = retention_cutoff(retention_days)
    if cutoff is None:
        return 0
    purged = 0
    while True:
        with sessions.begin() as session:
            rowids = list(session.scalars(select(Trace.id).where(Trace.start_time < cutoff).limit(BATCH)))
            if not rowids:
                break
            # Spans, tags and scores go with their trace (ON DELETE CASCADE).
            session.execute(delete(Trace).where(Trace.id.in_(rowids)))
            purged += len(rowids)
    with sessions.begin() as session:
        session.execute(delete(LogRecord).where(LogRecord.time < cutoff))
    if purged:
        log.info("retention: purged %d traces older than %s", purged, cutoff.isoformat())
    return purged
