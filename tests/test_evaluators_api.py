"""Evaluators as a user manages them: through the API (SQLite and PostgreSQL) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.test_cli import agent_trace, cli_env, ok, otlp_json, run
from tracereplay.context import AppContext
from tracereplay.projects.service import create_project


def test_evaluators_are_created_versioned_switched_and_removed(client: TestClient) -> None:
    types = {t["name"]: t for t in client.get("/api/v1/evaluator-types").json()["types"]}
    assert types["tool_calls_match"]["needs_original"] and not types["regex"]["needs_original"]

    created = client.post("/api/v1/evaluators", json={"name": "close-to-original", "type": "similarity"})
    assert created.status_code == 201, created.text
    assert created.json()["config_version"] == 1 and created.json()["target"] == "replays"
    assert created.json()["enabled"] and created.json()["sampling_rate"] == 1.0

    changed = client.patch("/api/v1/evaluators/close-to-original", json={"config": {"method": "ratio"}})
    assert changed.json()["config_version"] == 2 and changed.json()["config"] == {"method": "ratio"}
    # The same config again is no new version; switching off keeps the config.
    same = client.patch(
        "/api/v1/evaluators/close-to-original", json={"config": {"method": "ratio"}, "enabled": False}
    )
    assert same.json()["config_version"] == 2 and same.json()["enabled"] is False
    history = client.get("/api/v1/evaluators/close-to-original/configs").json()["versions"]
    assert [(v["version"], v["config"]) for v in history] == [(2, {"method": "ratio"}), (1, {})]

    traffic = client.post("/api/v1/evaluators", json={
        "name": "fast", "type": "latency_max", "config": {"max_ms": 2000}, "target": "all",
        "sampling_rate": 0.1, "filter": {"tags": ["prod"], "environment": "production"},
    })  # fmt: skip
    assert traffic.status_code == 201, traffic.text
    listed = client.get("/api/v1/evaluators").json()["evaluators"]
    assert [e["name"] for e in listed] == ["close-to-original", "fast"]

    assert client.delete("/api/v1/evaluators/fast").status_code == 204
    assert client.get("/api/v1/evaluators/fast").status_code == 404


def test_bad_evaluators_are_refused_with_the_reason(client: TestClient) -> None:
    def refused(body: dict[str, object], status: int = 422) -> str:
        answer = client.post("/api/v1/evaluators", json={"name": "e", **body})
        assert answer.status_code == status, answer.text
        return str(answer.json()["error"]["message"])

    assert "the types are:" in refused({"type": "vibes"})
    assert "not a valid regular expression" in refused({"type": "regex", "config": {"pattern": "("}})
    assert "unknown config key" in refused({"type": "json_valid", "config": {"strict": True}})
    assert "sampling_rate" in refused({"type": "json_valid", "sampling_rate": 0})
    assert "filter.tags" in refused({"type": "json_valid", "filter": {"tags": "prod"}})
    assert client.post("/api/v1/evaluators", json={"name": "e", "type": "json_valid"}).status_code == 201
    assert "exists" in refused({"type": "json_valid"}, status=409)
    patched = client.patch("/api/v1/evaluators/e", json={"config": {"strict": True}})
    assert patched.status_code == 422 and client.get("/api/v1/evaluators/e").json()["config_version"] == 1
    assert client.patch("/api/v1/evaluators/nope", json={"enabled": False}).status_code == 404


def test_evaluators_belong_to_their_project(client: TestClient, ctx: AppContext) -> None:
    assert client.post("/api/v1/evaluators", json={"name": "mine", "type": "json_valid"}).status_code == 201
    other = create_project(ctx.sessions, "other")
    headers = {"Authorization": f"Bearer {other.key}"}
    assert client.get("/api/v1/evaluators", headers=headers).json()["evaluators"] == []
    assert client.get("/api/v1/evaluators/mine", headers=headers).status_code == 404
    assert client.delete("/api/v1/evaluators/mine", headers=headers).status_code == 404


def test_evaluators_from_the_cli(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    assert "tool_calls_match" in ok(env, "evaluators", "types")
    ok(env, "evaluators", "create", "fast", "--type", "latency_max", "--config", '{"max_ms": 1500}')
    ok(env, "evaluators", "set", "fast", "--config", '{"max_ms": 1000}', "--disable")
    listed = ok(env, "evaluators", "list")
    assert "fast" in listed and "latency_max" in listed and '{"max_ms":1000}' in listed
    bad = run(env, "evaluators", "create", "x", "--type", "regex", "--config", '{"pattern": "("}')
    assert bad.returncode != 0 and "not a valid regular expression" in bad.stderr
    assert "Traceback" not in bad.stderr
    trace_id, spans = agent_trace()
    export = tmp_path / "export.json"
    export.write_text(json.dumps(otlp_json(spans)))
    ok(env, "import", str(export))
    ok(env, "evaluators", "create", "answered", "--type", "contains", "--config", '{"text": "Paris"}')
    scored = ok({**env, "COLUMNS": "200"}, "evaluate", trace_id, "--evaluator", "fast", "-e", "answered")
    assert "2 new scores" in scored and "latency_max" not in scored
    assert "fast" in scored and "answered" in scored
    assert "1 new score" not in ok(env, "evaluate", trace_id, "-e", "fast")  # once per configuration
    unknown = run(env, "evaluate", trace_id, "-e", "nope")
    assert unknown.returncode != 0 and "no evaluator named nope" in unknown.stderr
    ok(env, "evaluators", "delete", "fast")
    assert "fast" not in ok(env, "evaluators", "list")
