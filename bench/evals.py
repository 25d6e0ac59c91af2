"""Evaluation benchmark: deterministic evaluators over stored traces, through the real queue.

Starts `tracereplay serve` (SQLite, embedded worker: 3 job threads) on a fresh database, stores
N agent traces over OTLP, creates six deterministic evaluators (contains, regex, json_valid,
exact_match, latency_max, cost_max), asks for an on-demand evaluation of every trace
(`POST /api/v1/evaluations`, 100 traces a job) and prints:

- traces/s evaluated: N divided by the time from the request to the last of the N x 6 scores
  (counted in the database);
- ingestion alone vs during an evaluation: spans/s persisted for the same OTLP traffic sent to
  the same server, first with nothing else running, then while an evaluation of every stored
  trace runs, and the slowdown.

Usage: python bench/evals.py [--traces 10000] [--ingest-traces 5556]
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.workload import requests
from tests.conftest import API_KEY, start_server

EVALUATORS = [
    ("mentions-city", "contains", {"text": "Paris"}),
    ("has-number", "regex", {"pattern": r"\d"}),
    ("is-json", "json_valid", {}),
    ("exact", "exact_match", {"expected": "It is sunny in Paris."}),
    ("fast", "latency_max", {"max_ms": 5000}),
    ("cheap", "cost_max", {"max_usd": 0.01}),
]


def ingest(url: str, payloads: Iterable[bytes], concurrency: int = 4) -> float:
    """Seconds to send `payloads` (each answered after commit) over `concurrency` connections."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/x-protobuf"}
    local = threading.local()

    def send(body: bytes) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {payload[:300]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, payloads))
    return time.perf_counter() - started


def scores(database: Path, suffix: str) -> int:
    """Scores stored by the evaluators whose names end with `suffix`."""
    with sqlite3.connect(database) as conn:
        query = "SELECT count(*) FROM scores WHERE name LIKE ?"
        return int(conn.execute(query, (f"%{suffix}",)).fetchone()[0])


def evaluate_all(api: httpx.Client, database: Path, suffix: str, traces: int, timeout: float = 1800) -> float:
    """Seconds from asking the evaluators named `*suffix` to evaluate the first `traces` stored
    traces (by id; at most 10,000 a request) to their scores stored."""
    names = [name + suffix for name, _, _ in EVALUATORS]
    with sqlite3.connect(database) as conn:
        ids = [row[0] for row in conn.execute("SELECT trace_id FROM traces ORDER BY id LIMIT ?", (traces,))]
    expected = len(ids) * len(EVALUATORS)
    started = time.perf_counter()
    answer = api.post("/api/v1/evaluations", json={"trace_ids": ids, "evaluators": names})
    if answer.is_error:
        raise RuntimeError(f"{answer.status_code}: {answer.text[:500]}")
    while scores(database, suffix) < expected:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"only {scores(database, suffix)} of {expected} scores after {timeout} s")
        time.sleep(0.2)
    return time.perf_counter() - started


def create_evaluators(api: httpx.Client, suffix: str) -> None:
    for name, kind, config in EVALUATORS:
        body = {"name": name + suffix, "type": kind, "config": config}
        api.post("/api/v1/evaluators", json=body).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=10_000, help="stored traces to evaluate")
    parser.add_argument("--ingest-traces", type=int, default=5_556, help="traces sent in the ingestion runs")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tracereplay-bench-")) / "home"
    home.mkdir()
    # Live-traffic evaluation stays out of the way: only the on-demand requests run.
    server = start_server(home, {"TRACEREPLAY_EVALUATION_QUIET_SECONDS": "86400"})
    database = home / "tracereplay.db"
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=600)
    try:
        print(f"storing {args.traces} agent traces ...")
        ingest(server.url, list(requests(args.traces, 2)))
        create_evaluators(api, "-first")
        seconds = evaluate_all(api, database, "-first", args.traces)
        print(
            f"evaluated {args.traces} traces x {len(EVALUATORS)} evaluators in {seconds:.1f} s = "
            f"{args.traces / seconds:,.0f} traces/s ({args.traces * len(EVALUATORS) / seconds:,.0f} scores/s)"
        )

        spans = args.ingest_traces * 9
        alone = ingest(server.url, list(requests(args.ingest_traces, 4)))
        create_evaluators(api, "-again")
        stored = args.traces  # at most 10,000 traces per request
        evaluation: dict[str, float] = {}

        def evaluate() -> None:
            evaluation["seconds"] = evaluate_all(api, database, "-again", stored)

        runner = threading.Thread(target=evaluate)
        runner.start()
        time.sleep(1.0)  # the evaluation jobs are running
        during = ingest(server.url, list(requests(args.ingest_traces, 4)))
        runner.join()
        change = alone / during - 1  # spans/s during vs alone
        print(
            f"ingestion alone: {spans / alone:,.0f} spans/s; during an evaluation of {stored} traces: "
            f"{spans / during:,.0f} spans/s ({change:+.0%}); "
            f"that evaluation took {evaluation['seconds']:.1f} s"
        )
    finally:
        api.close()
        server.process.terminate()
        server.process.wait(30)


if __name__ == "__main__":
    main()
