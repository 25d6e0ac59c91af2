"""Separate worker processes over a real Redis or PostgreSQL queue: `serve --no-worker` plus
`tracereplay worker`, and a worker killed with SIGKILL mid-replay."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, start_server
from tests.otlp_builders import llm_attributes, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import LLMServer
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.replay.sweeper import sweep_replays


def worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tracereplay", "worker", "--concurrency", "3"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ingest_trace(server: RunningServer, llm_spans: int) -> str:
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root, "agent", end_ms=100 * llm_spans + 100,
                  attributes={"openinference.span.kind": "CHAIN"})]  # fmt: skip
    for index in range(llm_spans):
        spans.append(span(trace_id, new_span_id(), f"call-{index}", parent=root, start_ms=100 * index,
                          end_ms=100 * index + 90, attributes=llm_attributes()))  # fmt: skip
    response = httpx.post(
        f"{server.url}/v1/traces",
        content=trace_request(spans).SerializeToString(),
        headers={**server.headers, "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text
    return trace_id


@pytest.fixture(params=["redis", "postgresql"])
def distributed_queue(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_queue"))


def test_worker_killed_mid_replay_still_ends_with_no_duplicate_spans(
    settings: Settings, tmp_path: Path, distributed_queue: str, llm_server: LLMServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env_overrides = {
        "TRACEREPLAY_QUEUE_URL": distributed_queue,
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": llm_server.base_url,
        "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
    }
    if settings.database_url:
        env_overrides["TRACEREPLAY_DATABASE_URL"] = settings.database_url
    server = start_server(home, env_overrides, args=("--no-worker",))
    worker = worker_process(server.env, tmp_path / "worker-1.log")
    second = None
    try:
        trace_id = ingest_trace(server, llm_spans=6)
        llm_server.latency = 1.0  # 6 spans, 4 at a time: the replay runs for about 2 s
        api = httpx.Client(base_url=server.url, headers=server.headers, timeout=10)
        replay_id = api.post(f"/api/v1/traces/{trace_id}/replays", json={}).json()["replay_id"]
        deadline = time.monotonic() + 20
        while api.get(f"/api/v1/replays/{replay_id}").json()["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the worker never picked the replay up"
            time.sleep(0.05)
        time.sleep(0.3)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert api.get(f"/api/v1/replays/{replay_id}").json()["status"] == "RUNNING"

        # A new worker, and the sweeper finding the dead worker's replay (heartbeat stopped).
        second = worker_process(server.env, tmp_path / "worker-2.log")
        context = AppContext.open(
            Settings(home=home, database_url=settings.database_url, queue_url=distributed_queue)
        )
        try:
            swept = sweep_replays(context.sessions, context.queue.enqueue_replay, stale_after=timedelta(0))
        finally:
            context.close()
        assert swept.requeued == [replay_id]
        while (replay := api.get(f"/api/v1/replays/{replay_id}").json())["status"] not in (
            "COMPLETED",
            "FAILED",
        ):
            assert time.monotonic() < deadline + 30, replay
            time.sleep(0.05)
        assert replay["status"] == "COMPLETED", replay
        assert replay["progress"] == "6/6 LLM spans"
        result = api.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
        assert result["span_count"] == 7
        assert len({s["span_id"] for s in result["spans"]}) == 7
        assert api.get(f"/api/v1/traces/{trace_id}/replays").json()["replays"][0]["replay_id"] == replay_id
        api.close()
    finally:
        stop(worker)
        if second is not None:
            stop(second)
        stop(server.process)


def test_cli_replay_waits_and_summarises(tmp_path: Path, llm_server: LLMServer) -> None:
    home = tmp_path / "home"
    home.mkdir()
    overrides = {"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": llm_server.base_url}
    server = start_server(home, overrides)  # SQLite and the embedded worker
    try:
        trace_id = ingest_trace(server, llm_spans=2)
        env = {key: value for key, value in server.env.items() if key != "TRACEREPLAY_PORT"}
        done = subprocess.run(
            [sys.executable, "-m", "tracereplay", "replay", trace_id, "--model", "openai:gpt-4o-mini",
             "--param", "temperature=0", "--param", "max_tokens=null", "--wait"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "COMPLETED" in done.stdout and "2/2 LLM spans" in done.stdout
        assert (
            "total tokens" in done.stdout and "duration (ms)" in done.stdout and "final output" in done.stdout
        )
        assert len(llm_server.bodies) == 2
        assert all(body["temperature"] == 0 and "max_tokens" not in body for body in llm_server.bodies)
        listed = subprocess.run(
            [sys.executable, "-m", "tracereplay", "replays", "list", trace_id],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "COMPLETED" in listed.stdout and '"temperature":0' in listed.stdout
        bad = subprocess.run(
            [sys.executable, "-m", "tracereplay", "replay", trace_id, "--param", "temperature"],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode == 1
        assert "name=value" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        stop(server.process)
