"""A worker killed with SIGKILL mid-evaluation on the Redis queue: the evaluation runs again on
another worker and every evaluator ends with exactly one score per trace."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx

from tests.conftest import start_server
from tests.support.llm_server import LLMServer, Reply
from tests.test_workers import ingest_trace, stop, worker_process
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.evals.pipeline import unevaluated_replays

JUDGE = {"model": "openai:gpt-4o-mini", "rubric": "Answer: {{output}}. Right?"}


def test_worker_killed_mid_evaluation_leaves_one_score_per_evaluator(
    tmp_path: Path, redis_queue: str, llm_server: LLMServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env_overrides = {
        "TRACEREPLAY_QUEUE_URL": redis_queue,
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": llm_server.base_url,
        "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
    }
    server = start_server(home, env_overrides, args=("--no-worker",))
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=10)
    worker = worker_process(server.env, tmp_path / "worker-1.log")
    second = None
    try:
        for name, kind, config in [
            ("valid", "json_valid", {}),
            ("judge-a", "llm_judge", JUDGE),
            ("judge-b", "llm_judge", JUDGE),
            ("short", "latency_max", {"max_ms": 10_000}),
        ]:
            created = api.post("/api/v1/evaluators", json={"name": name, "type": kind, "config": config})
            assert created.status_code == 201, created.text
        trace_id = ingest_trace(server, llm_spans=1)
        verdict = '{"reasoning": "fine", "score": 1}'
        # The replay's call answers at once; the judges' first calls take long enough to kill the worker.
        llm_server.script(Reply(text="Paris."), *[Reply(text=verdict, latency=3.0)] * 2,
                          *[Reply(text=verdict)] * 8)  # fmt: skip
        replay_id = api.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"]
        deadline = time.monotonic() + 30
        while len(llm_server.requests) < 2:  # the first judge call is in flight
            assert time.monotonic() < deadline, "the evaluation never called its judge"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        replay = api.get(f"/api/v1/replays/{replay_id}").json()
        assert replay["status"] == "COMPLETED" and replay["evaluations"] == "pending"

        # Another worker, and the sweep finding the evaluation the dead worker never finished.
        second = worker_process(server.env, tmp_path / "worker-2.log")
        context = AppContext.open(Settings(home=home, queue_url=redis_queue))
        try:
            lost = unevaluated_replays(context.sessions, timedelta(0))
            assert lost == [replay_id]
            for replay_id in lost:
                context.queue.enqueue_replay_evaluation(replay_id)
        finally:
            context.close()
        while (replay := api.get(f"/api/v1/replays/{replay_id}").json())["evaluations"] != "done":
            assert time.monotonic() < deadline + 30, replay
            time.sleep(0.05)
        replayed = Counter(score["name"] for score in replay["scores"])
        assert replayed == {"valid": 1, "judge-a": 1, "judge-b": 1, "short": 1}
        assert Counter(score["name"] for score in replay["original_scores"]) == replayed
        assert all(score["status"] == "scored" for score in replay["scores"]), replay["scores"]
    finally:
        api.close()
        stop(worker)
        if second is not None:
            stop(second)
        stop(server.process)
