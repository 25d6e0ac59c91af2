"""One way in for spans: replays write their traces through the server's one writer while OTLP
ingestion runs at full speed, on SQLite, with nothing lost and no "database is locked"."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.conftest import start_server
from tests.otlp_builders import PROTOBUF, llm_attributes, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import LLMServer
from tests.support.replays import wait_for
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.db.models import Span, Trace

SENDERS = 3
MIN_REQUESTS_PER_SENDER = 6  # and on until every replay has finished
TRACES_PER_REQUEST = 40  # 3 spans each: 120 spans, ~60 KB a request, so helper processes decode it
REPLAYS = 8


def load_request() -> tuple[bytes, list[str]]:
    spans, trace_ids = [], []
    for _ in range(TRACES_PER_REQUEST):
        trace_id, root = new_trace_id(), new_span_id()
        trace_ids.append(trace_id)
        spans += [
            span(trace_id, root, "agent", end_ms=900, attributes={"openinference.span.kind": "CHAIN"}),
            span(trace_id, new_span_id(), "ChatCompletion", parent=root, end_ms=600,
                 attributes=llm_attributes(question="x" * 200)),
            span(trace_id, new_span_id(), "lookup", parent=root, start_ms=600, end_ms=800,
                 attributes={"openinference.span.kind": "TOOL", "output.value": "y" * 100}),
        ]  # fmt: skip
    return trace_request(spans).SerializeToString(), trace_ids


def test_replays_and_full_speed_ingestion_share_one_writer(tmp_path: Path, llm_server: LLMServer) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = start_server(
        home,
        {
            "TRACEREPLAY_INGEST_PROCESSES": "2",
            "TRACEREPLAY_OPENAI_API_KEY": "sk-test-not-a-real-key",
            "TRACEREPLAY_OPENAI_BASE_URL": llm_server.base_url,
            "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
            "TRACEREPLAY_WORKER_CONCURRENCY": "3",
        },
    )
    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)
    try:
        source_id, root = new_trace_id(), new_span_id()
        source = [
            span(source_id, root, "agent", end_ms=1000, attributes={"openinference.span.kind": "CHAIN"}),
            span(source_id, new_span_id(), "ChatCompletion", parent=root, end_ms=600,
                 attributes=llm_attributes()),
        ]  # fmt: skip
        answer = client.post(
            "/v1/traces", content=trace_request(source).SerializeToString(), headers=PROTOBUF
        )
        assert answer.status_code == 200

        failures: list[str] = []
        acknowledged: list[str] = []
        lock = threading.Lock()
        replays_done = threading.Event()

        def send() -> None:
            """Back-to-back export requests until the replays are done."""
            with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as sender:
                sent = 0
                while sent < MIN_REQUESTS_PER_SENDER or not replays_done.is_set():
                    body, trace_ids = load_request()
                    response = sender.post("/v1/traces", content=body, headers=PROTOBUF)
                    sent += 1
                    with lock:
                        if response.status_code == 200:
                            acknowledged.extend(trace_ids)
                        else:
                            failures.append(f"{response.status_code}: {response.text[:300]}")

        senders = [threading.Thread(target=send) for _ in range(SENDERS)]
        for sender in senders:
            sender.start()
        replay_ids = []
        for _ in range(REPLAYS):  # while the senders run
            created = client.post(
                f"/api/v1/traces/{source_id}/replays", json={"modelParameters": {"temperature": 0}}
            )
            assert created.status_code == 202, created.text
            replay_ids.append(created.json()["replay_id"])
        try:
            replays = [wait_for(client, replay_id, timeout=120) for replay_id in replay_ids]
        finally:
            replays_done.set()
            for sender in senders:
                sender.join()

        assert failures == []
        assert len(acknowledged) >= SENDERS * MIN_REQUESTS_PER_SENDER * TRACES_PER_REQUEST
        assert [replay["status"] for replay in replays] == ["COMPLETED"] * REPLAYS, replays
        for replay in replays:
            result = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
            assert result["source_trace_id"] == source_id and result["replay_id"] == replay["replay_id"]
            by_name = {s["name"]: s for s in result["spans"]}
            assert sorted(by_name) == ["ChatCompletion", "agent"]
            llm = by_name["ChatCompletion"]
            assert llm["invocation_parameters"] == {"temperature": 0}
            assert llm["cost"] is not None and llm["cost"] > 0  # priced by the ingest service
    finally:
        client.close()
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()

    log = (home.parent / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()
    assert "database is locked" not in log, log
    with AppContext.open(Settings(home=home), run_migrations=False) as ctx, ctx.sessions() as session:
        stored = set(session.scalars(select(Trace.trace_id)))
        spans_stored = session.scalar(select(func.count()).select_from(Span))
    assert set(acknowledged) <= stored
    assert len(stored) == len(acknowledged) + 1 + REPLAYS
    assert spans_stored == 3 * len(acknowledged) + 2 * (1 + REPLAYS)
