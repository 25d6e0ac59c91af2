"""Replay benchmark against the loopback OpenAI-compatible test server with a fixed latency L.

Starts the test server in its own process (so the benchmark's own threads never slow its
answers) and `tracereplay serve` (embedded worker, 3 slots, SQLite) pointed at it, and prints:

- submit -> RUNNING: how long a replay waits for a free worker slot to pick it up
  (replay.started_at - replay.created_at, both stamped by the server);
- overhead: RUNNING -> COMPLETED wall time of a replay of a trace with 20 LLM spans, divided by
  the time the same 20 calls take made directly with the `openai` SDK at the same concurrency
  (4 at once, as the executor runs them);
- throughput: 200 replays of a one-LLM-span trace through one worker at concurrency 3, from
  the first created to the last finished, against the ideal ceil(200 / 3) x the RUNNING ->
  COMPLETED time of one such replay run alone (queue waits are not part of the ideal).

Usage: python bench/replay.py [--latency 0.2] [--spans 20] [--replays 200]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_server
from tests.otlp_builders import llm_attributes, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import LLMServer
from tracereplay.replay.executor import SPANS_AT_ONCE


def ingest(client: httpx.Client, llm_spans: int) -> str:
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=300 * llm_spans, attributes={"openinference.span.kind": "CHAIN"})
    ]
    for index in range(llm_spans):
        spans.append(
            span(trace_id, new_span_id(), f"call-{index}", parent=root, start_ms=300 * index,
                 end_ms=300 * index + 250, attributes=llm_attributes(question=f"question {index}"))
        )  # fmt: skip
    body = trace_request(spans).SerializeToString()
    response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    response.raise_for_status()
    return trace_id


def serve_llm(latency: float, address: Any) -> None:
    with LLMServer() as llm:
        llm.latency = latency
        address.send(llm.base_url)
        address.recv()  # until the benchmark says stop


def finished(client: httpx.Client, replay_id: str, timeout: float = 600) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replay: dict[str, object] = client.get(f"/api/v1/replays/{replay_id}").json()
        if replay["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            if replay["status"] != "COMPLETED":
                raise SystemExit(f"replay {replay_id} ended {replay['status']}: {replay['error']}")
            return replay
        time.sleep(0.05)  # the figures come from server timestamps, not from this loop
    raise SystemExit(f"replay {replay_id} did not finish in {timeout} s")


def seconds_between(start: object, end: object) -> float:
    return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.2, help="test server latency per call, seconds")
    parser.add_argument("--spans", type=int, default=20, help="LLM spans in the overhead trace")
    parser.add_argument("--replays", type=int, default=200, help="replays in the throughput batch")
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    llm = multiprocessing.Process(target=serve_llm, args=(args.latency, theirs), daemon=True)
    llm.start()
    base_url = ours.recv()
    with tempfile.TemporaryDirectory(prefix="tracereplay-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        server = start_server(home, {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": base_url})
        try:
            client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
            big = ingest(client, args.spans)
            small = ingest(client, 1)

            # Direct SDK baseline: the same calls, SPANS_AT_ONCE at a time.
            sdk = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
            messages = [{"role": "user", "content": "question"}]
            started = time.perf_counter()
            with ThreadPoolExecutor(SPANS_AT_ONCE) as pool:
                list(pool.map(lambda _: sdk.chat.completions.create(model="gpt-4o-mini", messages=messages),
                              range(args.spans)))  # fmt: skip
            direct = time.perf_counter() - started

            replay = finished(
                client, client.post(f"/api/v1/traces/{big}/replays", json={}).json()["replay_id"]
            )
            pickup = seconds_between(replay["created_at"], replay["started_at"])
            running = seconds_between(replay["started_at"], replay["finished_at"])
            print(
                f"latency L = {args.latency * 1000:.0f} ms, {args.spans} LLM spans, {SPANS_AT_ONCE} at once"
            )
            print(f"submit -> RUNNING: {pickup * 1000:.0f} ms (free slot)")
            print(f"RUNNING -> COMPLETED: {running:.3f} s; direct SDK calls: {direct:.3f} s; "
                  f"overhead {running / direct:.3f}x")  # fmt: skip

            one = finished(
                client, client.post(f"/api/v1/traces/{small}/replays", json={}).json()["replay_id"]
            )
            per_replay = seconds_between(one["started_at"], one["finished_at"])
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:  # submit faster than one worker can run them
                ids = list(pool.map(
                    lambda _: client.post(f"/api/v1/traces/{small}/replays", json={}).json()["replay_id"],
                    range(args.replays),
                ))  # fmt: skip
            submitting = time.perf_counter() - started
            done = [finished(client, replay_id) for replay_id in ids]
            # Server-stamped: from the first replay created to the last one finished.
            first_created = min(datetime.fromisoformat(str(r["created_at"])) for r in done)
            last_finished = max(datetime.fromisoformat(str(r["finished_at"])) for r in done)
            batch = (last_finished - first_created).total_seconds()
            ideal = math.ceil(args.replays / 3) * per_replay
            print(f"throughput: {args.replays} replays in {batch:.2f} s (submitting took "
                  f"{submitting:.2f} s); one replay alone {per_replay * 1000:.0f} ms; "
                  f"ideal ceil({args.replays}/3) x {per_replay * 1000:.0f} ms = {ideal:.2f} s; "
                  f"{ideal / batch * 100:.0f}% of ideal")  # fmt: skip
            client.close()
        finally:
            server.process.terminate()
            server.process.wait(30)
            ours.send("stop")
            llm.join(10)


if __name__ == "__main__":
    main()
