"""End to end with the real local model (gemma-3-270m via llama-cpp-python): the demo agent
records traces, and one is replayed with no API key and no network."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import API_KEY, AUTH
from tests.support.replays import wait_for
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.demo import record_demo_traces
from tracereplay.prompts.service import list_versions


def test_demo_trace_replays_on_the_local_model(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", init_api_key=API_KEY, ingest_processes=0)
    context = AppContext.open(settings)
    with TestClient(create_app(settings, run_worker=True, ctx=context), headers=AUTH) as client:
        trace_ids = record_demo_traces(context, project_rowid=1)
        assert len(trace_ids) == 3
        original = client.get(f"/api/v1/traces/{trace_ids[0]}").json()
        assert original["llm_span_count"] == 2
        assert original["total_tokens"] > 0
        assert original["cost"] == 0.0  # the local model is free, not "unknown"
        assert {s["kind"] for s in original["spans"]} == {"AGENT", "LLM", "TOOL"}

        models = client.get("/api/v1/models").json()["models"]
        local = {"model": "local:gemma-3-270m", "provider": "local", "name": "gemma-3-270m",
                 "input_price_per_mtok": 0.0, "output_price_per_mtok": 0.0,
                 "price_source": "local"}  # fmt: skip
        assert local in models

        response = client.post(
            f"/api/v1/traces/{trace_ids[0]}/replays",
            json={"modelParameters": {"temperature": 0, "max_tokens": 24}},
        )
        assert response.status_code == 202, response.text
        replay_id = response.json()["replay_id"]
        deadline = time.monotonic() + 120
        while (replay := client.get(f"/api/v1/replays/{replay_id}").json())["status"] not in (
            "COMPLETED",
            "FAILED",
        ):
            assert time.monotonic() < deadline, replay
            time.sleep(0.1)
        assert replay["status"] == "COMPLETED", replay
        result = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
        llm_spans = [s for s in result["spans"] if s["kind"] == "LLM"]
        assert len(llm_spans) == 2
        for span in llm_spans:
            assert span["model"] == "gemma-3-270m" and span["provider"] == "local"
            assert span["invocation_parameters"] == {"temperature": 0, "max_tokens": 24}
            assert span["prompt_tokens"] > 0
            assert 0 < span["completion_tokens"] <= 24 or span["output_messages"][0]["content"] == ""
            assert span["cost"] == 0.0
        assert result["total_tokens"] == sum(s["total_tokens"] for s in llm_spans)
        assert result["cost"] == 0.0
        assert replay["result"]["total_tokens"] == result["total_tokens"]

        # Recorded through the SDK from version 1 of its prompt; replayed with version 2.
        assert all(
            s["prompt"]["linked"] and s["prompt"]["version"] == 1
            for s in original["spans"]
            if s["kind"] == "LLM"
        )
        second = client.get("/api/v1/prompts/weather-agent", params={"version": 2}).json()
        response = client.post(
            f"/api/v1/traces/{trace_ids[0]}/replays",
            json={"promptTemplateVersionId": second["version_id"], "modelParameters": {"max_tokens": 8}},
        )
        assert response.status_code == 202, response.text
        replay = wait_for(client, response.json()["replay_id"], timeout=120)
        assert replay["status"] == "COMPLETED", replay
        result = client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()
        for span in (s for s in result["spans"] if s["kind"] == "LLM"):
            assert span["input_messages"][0] == second["prompt"][0]
            assert span["prompt_template"]["version"] == 2

    # Running the demo again records more traces from the same two versions.
    again = AppContext.open(settings)
    try:
        record_demo_traces(again, project_rowid=1)
        assert [v.version for v in list_versions(again.sessions, 1, "weather-agent")] == [2, 1]
    finally:
        again.close()
