"""Killing the server with SIGKILL mid-ingestion loses no acknowledged span."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import select, tuple_

from bench.workload import requests
from tests.conftest import RunningServer, start_server
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.db.models import Span, Trace


def span_keys(body: bytes) -> set[tuple[str, str]]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return {
        (span.trace_id.hex(), span.span_id.hex())
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


def test_sigkill_mid_ingestion_loses_no_acknowledged_span(
    server: RunningServer, settings: Settings, tmp_path: Path
) -> None:
    payloads = list(requests(traces=600, k=3, spans_per_request=100))
    acknowledged: set[tuple[str, str]] = set()
    lock = threading.Lock()
    stop = threading.Event()
    headers = {**server.headers, "Content-Type": "application/x-protobuf"}

    def sender(share: list[bytes]) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            for body in share:
                if stop.is_set():
                    return
                try:
                    response = client.post("/v1/traces", content=body)
                except httpx.HTTPError:
                    return  # the server died under this request: not acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.update(span_keys(body))

    threads = [threading.Thread(target=sender, args=(payloads[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 1500:
                break
        time.sleep(0.01)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    for thread in threads:
        thread.join(30)
    with lock:
        expected = set(acknowledged)
    assert len(expected) >= 1500, "the run ended before the kill; send more"
    assert len(expected) < sum(len(span_keys(p)) for p in payloads), "killed after the run, not in it"

    # Restart on the same database (recovery included), then look for every acknowledged span.
    restarted = start_server(
        server.home, {k: v for k, v in server.env.items() if k.startswith("TRACEREPLAY_DATABASE")}
    )
    try:
        context = AppContext.open(settings.model_copy(update={"home": server.home}))
        stored: set[tuple[str, str]] = set()
        keys = sorted(expected)
        with context.sessions() as session:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                query = (
                    select(Trace.trace_id, Span.span_id)
                    .join(Span, Span.trace_rowid == Trace.id)
                    .where(tuple_(Trace.trace_id, Span.span_id).in_(chunk))
                )
                stored.update((t, s) for t, s in session.execute(query))
        context.close()
    finally:
        restarted.process.terminate()
        restarted.process.wait(10)
    missing = expected - stored
    assert not missing, f"{len(missing)} acknowledged spans lost, e.g. {sorted(missing)[:3]}"
