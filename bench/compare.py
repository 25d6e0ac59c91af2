"""Comparison benchmark: two stored traces of N spans each (half of them LLM calls with long
outputs that differ), compared as `GET /api/v1/compare` does.

Stores both traces in a fresh SQLite database through the ingestion entry, then times
`compare_traces` (loading both traces, aligning them, every pair's changes, the final output's
diff, the score table), the computation alone on traces already loaded, the whole HTTP request
(`GET /api/v1/compare` through the app: validation and the JSON body too), and one pair's full
diff (`GET /api/v1/compare/spans`, what opening a pair asks for). Prints the median of 7 runs.

Usage: python bench/compare.py [--spans 2000] [--words 400]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fastapi.testclient import TestClient

from tracereplay.api.app import create_app
from tracereplay.compare.align import align_by_shape
from tracereplay.compare.service import _document, compare_traces
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.ingest.helpers import tune_gc
from tracereplay.ingest.records import SpanRecord
from tracereplay.traces.queries import get_trace

# A vocabulary of 3,000 made-up words: outputs share common words, as texts do, without the
# fragmented diffs that a handful of repeated words would give.
VOCABULARY = [f"w{index}" for index in range(30)] * 50 + [f"word{index}" for index in range(1500)]


def text(words: int, rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def agent(trace_id: str, spans: int, words: int, seed: int) -> list[SpanRecord]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=spans)
    root = SpanRecord(trace_id, "0" * 16, None, "agent", start, end, kind="AGENT", output=text(words, rng))
    records = [root]
    for index in range(1, spans):
        at = start + timedelta(seconds=index)
        span_id = f"{index:016x}"
        if index % 2:
            records.append(SpanRecord(
                trace_id, span_id, root.span_id, "chat", at, at + timedelta(milliseconds=800), kind="LLM",
                provider="openai", model="gpt-4o-mini", prompt_tokens=500, completion_tokens=words,
                input_messages=[{"role": "user", "content": f"step {index}"}],
                output_messages=[{"role": "assistant", "content": text(words, rng)}],
                invocation_parameters={"temperature": 0.2},
            ))  # fmt: skip
        else:
            done = at + timedelta(milliseconds=50)
            records.append(SpanRecord(trace_id, span_id, root.span_id, "tool", at, done, kind="TOOL",
                                      output=text(20, rng)))  # fmt: skip
    return records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=2000, help="spans in each trace")
    parser.add_argument("--words", type=int, default=400, help="words in each LLM output")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tracereplay-bench-")) / "home"
    key = "tr-" + "b" * 43
    settings = Settings(home=home, init_api_key=key, ingest_processes=0)
    context = AppContext.open(settings)
    with TestClient(create_app(settings, ctx=context), headers={"Authorization": f"Bearer {key}"}) as client:
        tune_gc()  # as `tracereplay serve` does once the app is loaded
        base_id, target_id = "a" * 32, "b" * 32
        context.ingest.store_spans(1, agent(base_id, args.spans, args.words, seed=1))
        context.ingest.store_spans(1, agent(target_id, args.spans, args.words, seed=2))
        base, target = get_trace(context.sessions, 1, base_id), get_trace(context.sessions, 1, target_id)
        pair = {"base": base_id, "base_span": base.spans[-1].span_id,
                "target": target_id, "target_span": target.spans[-1].span_id}  # fmt: skip
        timings = {
            "compare_traces (load both, align, every pair, scores)": lambda: compare_traces(
                context.sessions, 1, base_id, target_id
            ),
            "the comparison alone, traces loaded": lambda: _document(
                base, target, align_by_shape(base.spans, target.spans), None
            ),
            "GET /api/v1/compare, whole request and JSON body": lambda: client.get(
                "/api/v1/compare", params={"base": base_id, "target": target_id}
            ).raise_for_status(),
            "GET /api/v1/compare/spans, one pair's full diff": lambda: client.get(
                "/api/v1/compare/spans", params=pair
            ).raise_for_status(),
        }
        outputs = f"{args.spans // 2} LLM outputs of {args.words} words, all different"
        print(f"two traces of {args.spans} spans ({outputs}), median of 7:")
        for label, work in timings.items():
            work()  # warm
            runs = []
            for _ in range(7):
                started = time.perf_counter()
                work()
                runs.append(time.perf_counter() - started)
            print(f"  {label}: {statistics.median(runs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
