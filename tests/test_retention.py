"""Retention (TRACEREPLAY_RETENTION_DAYS): expired traces are hidden at once and purged by a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.otlp_builders import (
    PROTOBUF,
    T0,
    llm_attributes,
    log_record,
    logs_request,
    new_span_id,
    new_trace_id,
    span,
    trace_request,
)
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.db.models import LogRecord, Score, Span, Trace, TraceTag
from tracereplay.traces import retention
from tracereplay.traces.retention import purge_expired_traces

T0_TIME = datetime.fromtimestamp(T0 / 1e9, tz=UTC)
DAYS = 7


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared per-backend settings, with a seven-day retention window."""
    return settings.model_copy(update={"retention_days": DAYS})


def send_trace(client: TestClient, started: datetime, name: str) -> str:
    """A two-span trace starting at `started`, with a tag and a GenAI log event on its LLM span."""
    trace_id, root, llm = new_trace_id(), new_span_id(), new_span_id()
    offset_ms = round((started - T0_TIME).total_seconds() * 1000)
    spans = [
        span(trace_id, root, name, start_ms=offset_ms, end_ms=offset_ms + 200,
             attributes={"openinference.span.kind": "CHAIN", "tag.tags": ["kept-with-trace"]}),
        span(trace_id, llm, "llm", parent=root, start_ms=offset_ms + 10, end_ms=offset_ms + 190,
             attributes=llm_attributes()),
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    logs = logs_request([log_record(trace_id, llm, "gen_ai.user.message", {"content": "hi"}, offset_ms + 11)])
    assert client.post("/v1/logs", content=logs.SerializeToString(), headers=PROTOBUF).status_code == 200
    return trace_id


@dataclass
class Ages:
    ancient: str  # the builders' T0, over a year ago
    expired: str  # eight days ago
    recent: str  # six days ago
    fresh: str  # an hour ago

    @property
    def kept(self) -> set[str]:
        return {self.recent, self.fresh}


@pytest.fixture
def ages(client: TestClient, ctx: AppContext) -> Ages:
    now = datetime.now(UTC)
    traces = Ages(
        ancient=send_trace(client, T0_TIME, "ancient"),
        expired=send_trace(client, now - timedelta(days=DAYS + 1), "expired"),
        recent=send_trace(client, now - timedelta(days=DAYS - 1), "recent"),
        fresh=send_trace(client, now - timedelta(hours=1), "fresh"),
    )
    # A score on an expired trace must go with it.
    with ctx.sessions.begin() as session:
        rowid = session.scalar(select(Trace.id).where(Trace.trace_id == traces.expired))
        session.add(Score(trace_rowid=rowid, name="helpfulness", value=0.5, source="api"))
    return traces


def row_counts(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Trace, Span, TraceTag, LogRecord, Score)
        }


def test_expired_traces_are_hidden_before_they_are_purged(client: TestClient, ages: Ages) -> None:
    listed = client.get("/api/v1/traces", params={"limit": 500}).json()["traces"]
    assert {t["trace_id"] for t in listed} == ages.kept
    since_long_ago = client.get("/api/v1/traces", params={"start_after": "2000-01-01T00:00:00Z"}).json()
    assert {t["trace_id"] for t in since_long_ago["traces"]} == ages.kept

    for trace_id in (ages.ancient, ages.expired):
        response = client.get(f"/api/v1/traces/{trace_id}")
        assert response.status_code == 404
        message = response.json()["error"]["message"]
        assert "outside the retention window of 7 days" in message
        assert "TRACEREPLAY_RETENTION_DAYS" in message
        # The span endpoint explains the same way.
        spans = client.get(f"/api/v1/traces/{trace_id}/spans/{new_span_id()}")
        assert spans.status_code == 404
        assert "retention window" in spans.json()["error"]["message"]

    recent = client.get(f"/api/v1/traces/{ages.recent}")
    assert recent.status_code == 200
    assert recent.json()["span_count"] == 2


def test_purge_deletes_expired_traces_with_everything_attached(
    client: TestClient, ctx: AppContext, ages: Ages, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert row_counts(ctx) == {"traces": 4, "spans": 8, "trace_tags": 4, "log_records": 4, "scores": 1}
    monkeypatch.setattr(retention, "BATCH", 1)  # several small transactions, as with a large backlog

    assert purge_expired_traces(ctx.sessions, DAYS) == 2
    assert row_counts(ctx) == {"traces": 2, "spans": 4, "trace_tags": 2, "log_records": 2, "scores": 0}
    with ctx.sessions() as session:
        left = set(session.scalars(select(Trace.trace_id)))
    assert left == ages.kept

    gone = client.get(f"/api/v1/traces/{ages.expired}")
    assert gone.status_code == 404
    message = gone.json()["error"]["message"]
    assert f"trace {ages.expired} not found" in message
    assert "older than 7 days are purged (TRACEREPLAY_RETENTION_DAYS)" in message
    assert client.get(f"/api/v1/traces/{ages.recent}").status_code == 200

    assert purge_expired_traces(ctx.sessions, DAYS) == 0  # nothing left to do
    assert row_counts(ctx)["traces"] == 2


def test_zero_days_keeps_everything(client: TestClient, ctx: AppContext, ages: Ages) -> None:
    before = row_counts(ctx)
    assert purge_expired_traces(ctx.sessions, 0) == 0
    assert row_counts(ctx) == before
    # A longer window than the settings' keeps the eight-day-old trace.
    assert purge_expired_traces(ctx.sessions, 30) == 1
    with ctx.sessions() as session:
        left = set(session.scalars(select(Trace.trace_id)))
    assert left == {ages.expired, ages.recent, ages.fresh}


def test_purge_runs_as_a_periodic_huey_task(client: TestClient, ctx: AppContext, ages: Ages) -> None:
    huey = ctx.queue.huey
    # What the consumer's scheduler would enqueue at 03:20 and at 03:21: every ten minutes.
    due: dict[str, Any] = {task.name: task for task in huey.read_periodic(datetime(2026, 1, 1, 3, 20))}
    assert "purge_expired_traces" in due
    not_due = {task.name for task in huey.read_periodic(datetime(2026, 1, 1, 3, 21))}
    assert "purge_expired_traces" not in not_due

    huey.enqueue(due["purge_expired_traces"])  # through the real SQLite queue, as the worker runs it
    huey.execute(huey.dequeue())
    with ctx.sessions() as session:
        left = set(session.scalars(select(Trace.trace_id)))
    assert left == ages.kept
    assert row_counts(ctx)["spans"] == 4
