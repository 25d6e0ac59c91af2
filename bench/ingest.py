"""Ingestion benchmark: OTLP/HTTP protobuf into a real `tracereplay serve`, SQLite and PostgreSQL.

Starts the server as a subprocess on a fresh database, sends N agent traces (a CHAIN root,
K LLM spans with messages, tools and token counts, K TOOL spans) from this separate process
over C concurrent connections, and prints:

- spans/s persisted: spans acknowledged by the server (which answers only after COMMIT),
  divided by the wall time from the first request to the last acknowledgement;
- p50 / p99 request latency;
- peak server memory: RSS of the server and its ingestion helper processes added up, and their
  PSS (which counts the libraries they share once), sampled every 50 ms;
- bytes on disk per span (SQLite: database + WAL files; PostgreSQL: pg_database_size).

Usage: python bench/ingest.py [--traces 11112] [--k 4] [--concurrency 4] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.workload import requests
from tests.conftest import API_KEY, start_server

PG_ADMIN = os.environ.get("TRACEREPLAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.peak_pss = 0
        self.running = True

    def run(self) -> None:
        # The server and its decode helper processes, all together.
        while self.running:
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in processes))
                # PSS counts pages shared between these processes (libraries) once.
                self.peak_pss = max(self.peak_pss, sum(p.memory_full_info().pss for p in processes))
            except psutil.Error:
                return
            time.sleep(0.05)


def run(backend: str, payloads: list[bytes], concurrency: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="tracereplay-bench-")) / "home"  # the server log goes beside it
    database_url = None
    pg_name = None
    if backend == "postgresql":
        pg_name = f"tracereplay_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        database_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{pg_name}"
    home.mkdir(exist_ok=True)
    server = start_server(
        home,
        {"TRACEREPLAY_DATABASE_URL": database_url} if database_url else {},
        args=("--no-worker",),
    )
    process, url = server.process, server.url
    sampler = RssSampler(process.pid)
    sampler.start()
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/x-protobuf"}
    local = threading.local()

    host, port = url.removeprefix("http://").split(":")

    def send(body: bytes) -> int:
        # http.client, like the OTel SDK's exporter: a light client leaves the shared CPUs
        # to the server being measured.
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        started = time.perf_counter()
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {payload[:500]!r}")
        with lock:
            latencies.append(elapsed)
        return 1

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, payloads))
        wall = time.perf_counter() - started
        sampler.running = False
        sampler.join()
        with httpx.Client(base_url=url, headers=headers) as client:
            listed = client.get("/api/v1/traces", params={"limit": 1}).json()["traces"]
        assert listed, "nothing stored"
        if backend == "sqlite":
            disk = sum(f.stat().st_size for f in home.glob("tracereplay.db*"))
        else:
            with psycopg.connect(PG_ADMIN) as conn:
                row = conn.execute("SELECT pg_database_size(%s)", (pg_name,)).fetchone()
                disk = int(row[0]) if row else 0
    finally:
        process.terminate()
        process.wait(30)
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    spans = SPANS_SENT
    latencies.sort()
    return {
        "spans": spans,
        "seconds": wall,
        "spans_per_s": spans / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "peak_rss_mb": sampler.peak / 1024 / 1024,
        "peak_pss_mb": sampler.peak_pss / 1024 / 1024,
        "bytes_per_span": disk / spans,
    }


SPANS_SENT = 0


def main() -> None:
    global SPANS_SENT
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=11_112, help="agent traces to send")
    parser.add_argument("--k", type=int, default=4, help="LLM+tool rounds per trace")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent client connections")
    parser.add_argument("--batch", type=int, default=512, help="spans per export request")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend; the median is the figure")
    args = parser.parse_args()
    print(f"building {args.traces} traces x {1 + 2 * args.k} spans ...", flush=True)
    payloads = list(requests(args.traces, args.k, args.batch))
    SPANS_SENT = args.traces * (1 + 2 * args.k)
    mb = sum(map(len, payloads)) / 1024 / 1024
    print(f"{len(payloads)} requests, {mb:.1f} MB of protobuf, concurrency {args.concurrency}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        results = []
        for attempt in range(1, args.repeat + 1):
            result = run(backend, payloads, args.concurrency)
            results.append(result)
            print(f"  {backend} run {attempt}: {describe(result)}", flush=True)
        median = sorted(results, key=lambda r: r["spans_per_s"])[len(results) // 2]
        print(f"{backend:<10} median of {len(results)}: {describe(median)}", flush=True)


def describe(result: dict[str, float]) -> str:
    return (
        f"{result['spans']:.0f} spans in {result['seconds']:.2f} s = "
        f"{result['spans_per_s']:,.0f} spans/s persisted | latency p50 {result['p50_ms']:.0f} ms "
        f"p99 {result['p99_ms']:.0f} ms | peak server RSS {result['peak_rss_mb']:.0f} MB "
        f"(PSS {result['peak_pss_mb']:.0f} MB) | {result['bytes_per_span']:.0f} bytes/span on disk"
    )


if __name__ == "__main__":
    main()
