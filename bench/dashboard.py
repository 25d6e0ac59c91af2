"""Dashboard benchmark: server time of the trace list over a large store, and of a 2,000-span
trace's page.

Starts `tracereplay serve` (SQLite unless --database-url) on a fresh database, stores N spans of
agent traces (1 root + 4 LLM + 4 tool spans each) spread over the last 7 days through OTLP,
and one agent trace of 2,001 spans, then times (median of 7, after one warm-up):

- the trace list as a user first opens it (`/p/default/traces`: last 7 days, newest first, 50
  rows), the chart of the range the page then fetches, the list over all time, with a text
  search, and sorted by cost;
- the 2,000-span trace's page (waterfall of every span, the first LLM span's details).

Each figure is the time from sending the request to reading the whole page, on loopback. On
PostgreSQL the tables are analysed after the load, as autovacuum does within a minute.

Usage: python bench/dashboard.py [--spans 1000000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.evals import ingest
from bench.workload import requests
from tests.conftest import start_server, stop_server

SPANS_PER_TRACE = 9  # k = 4 rounds
WEEK_NS = 7 * 86_400 * 1_000_000_000


def timed(fetch: Callable[[], httpx.Response]) -> float:
    fetch().raise_for_status()  # warm
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        answer = fetch()
        runs.append(time.perf_counter() - started)
        answer.raise_for_status()
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans stored before timing")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tracereplay-bench-")) / "home"
    home.mkdir(parents=True)
    env = {"TRACEREPLAY_LOG_LEVEL": "warning"}
    if args.database_url:
        env["TRACEREPLAY_DATABASE_URL"] = args.database_url
    server = start_server(home, env)
    try:
        traces = max(1, args.spans // SPANS_PER_TRACE)
        now_ns = time.time_ns()
        started = time.perf_counter()
        ingest(server.url, requests(traces, 4, base_ns=now_ns - WEEK_NS, every_ns=WEEK_NS // traces))
        # 2,001 spans; each call sees the last 6 turns (the whole conversation would be 400 MB)
        ingest(server.url, requests(1, 1000, base_ns=now_ns - 3_600_000_000_000, history=6))
        stored = time.perf_counter() - started
        if args.database_url:
            # Fresh statistics, as autovacuum gathers them within a minute of a bulk load: with
            # none, PostgreSQL plans for 17 rows where there are 111,000.
            engine = sqlalchemy.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("ANALYZE"))
            engine.dispose()
        client = httpx.Client(base_url=server.url, timeout=120)
        big = client.get("/api/v1/traces", params={"sort": "span_count", "limit": 1},
                         headers=server.headers).json()["traces"][0]  # fmt: skip
        assert big["span_count"] == 2001, big
        database = "PostgreSQL" if args.database_url else "SQLite"
        total = traces * SPANS_PER_TRACE + 2001
        print(
            f"{total:,} spans in {traces + 1:,} traces ({database}, stored in {stored:.0f} s); median of 7:"
        )
        figures = {
            "trace list (last 7 days, newest first)": lambda: client.get("/p/default/traces"),
            "its chart (fetched by the page once shown)": lambda: client.get("/p/default/traces/chart"),
            "trace list, all time": lambda: client.get("/p/default/traces", params={"range": "all"}),
            "trace list, text search": lambda: client.get("/p/default/traces", params={"q": "#4242"}),
            "trace list, sorted by cost": lambda: client.get("/p/default/traces", params={"sort": "cost"}),
            "page of a 2,001-span trace": lambda: client.get(f"/p/default/traces/{big['trace_id']}"),
        }
        for label, fetch in figures.items():
            print(f"  {label}: {timed(fetch):.0f} ms")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
