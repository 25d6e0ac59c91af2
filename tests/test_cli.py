"""The `tracereplay` command, run as a user runs it: a subprocess with TRACEREPLAY_* in its environment."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from google.protobuf import json_format
from sqlalchemy import select, text

from tests.conftest import TABLES, RunningServer, free_port
from tests.otlp_builders import llm_attributes, new_span_id, new_trace_id, span, trace_request
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.db.models import Span, Trace

KEY = re.compile(r"tr-[A-Za-z0-9_-]{43}")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any TRACEREPLAY_* setting of its own, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRACEREPLAY_")}
    return {**env, "TRACEREPLAY_HOME": str(home), **extra}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def ok(env: dict[str, str], *args: str) -> str:
    result = run(env, *args)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def otlp_json(spans: list[Any]) -> dict[str, Any]:
    """An OTLP/JSON export request: protobuf JSON mapping, but ids as hex strings."""
    body = json_format.MessageToDict(trace_request(spans))
    for item in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in item:
                item[key] = base64.b64decode(item[key]).hex()
    return body


def agent_trace(model: str = "gpt-4o-mini") -> tuple[str, list[Any]]:
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    spans = [
        span(trace_id, root, "support-agent", end_ms=500, attributes={"openinference.span.kind": "CHAIN"}),
        span(trace_id, llm, "ChatCompletion", parent=root, start_ms=10, end_ms=300,
             attributes=llm_attributes(model)),
        span(trace_id, tool, "lookup-order", parent=root, start_ms=310, end_ms=450,
             attributes={"openinference.span.kind": "TOOL"}, error="order service timed out"),
    ]  # fmt: skip
    return trace_id, spans


def home_settings(home: Path) -> Settings:
    """The settings the CLI subprocesses use: SQLite and the queue in `home`, whatever the env says."""
    return Settings(home=home, database_url=None, queue_url=None)


def api_status(settings: Settings, key: str) -> int:
    """What a freshly started server on `settings` answers this key on GET /api/v1/traces."""
    with TestClient(create_app(settings)) as client:
        return client.get("/api/v1/traces", headers={"Authorization": f"Bearer {key}"}).status_code


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = cli_env(home)

    created = ok(env, "keys", "create", "--name", "ci-pipeline")
    assert "API key for project default (id 2), shown once:" in created
    keys = KEY.findall(created)
    assert len(keys) == 1
    key = keys[0]
    assert api_status(home_settings(home), key) == 200

    listing = ok(env, "keys", "list")
    assert "ci-pipeline" in listing
    assert f"{key[:8]}…" in listing
    assert key not in listing
    assert KEY.search(listing) is None  # no full key at all, not even the first-start one

    revoked = ok(env, "keys", "revoke", "2")
    assert f"revoked key 2 ({key[:8]}…) of project default" in revoked
    assert api_status(home_settings(home), key) == 401


def test_projects_create_and_list_keep_each_project_apart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = cli_env(home)
    created = ok(env, "projects", "create", "acme")
    assert "project acme created" in created
    keys = KEY.findall(created)
    assert len(set(keys)) == 1
    acme_key = keys[0]

    listing = ok(env, "projects", "list")
    rows = {line.split("│")[1].strip(): line for line in listing.splitlines() if line.count("│") >= 3}
    assert {"acme", "default"} <= set(rows), listing
    assert rows["acme"].split("│")[3].strip() == "1"  # its one active key
    assert KEY.search(listing) is None

    again = run(env, "projects", "create", "acme")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert error_lines(again.stderr) == [
        "error: project 'acme' already exists; `tracereplay projects list` shows them"
    ]
    blank = run(env, "projects", "create", "  ")
    assert blank.returncode == 1
    assert error_lines(blank.stderr) == [
        "error: invalid project name '': 1 to 200 letters, digits, _ . - (starting with a letter or "
        "digit), as it appears in the dashboard's addresses"
    ]
    assert "invalid project name 'a/b'" in run(env, "projects", "create", "a/b").stderr

    # A trace imported into acme is acme's alone, through the CLI and the API.
    trace_id, spans = agent_trace()
    export = tmp_path / "export.json"
    export.write_text(json.dumps(otlp_json(spans)))
    assert "imported 3 spans" in ok(env, "import", str(export), "--project", "acme")
    assert trace_id in ok({**env, "COLUMNS": "200"}, "traces", "list", "--project", "acme")
    assert trace_id not in ok({**env, "COLUMNS": "200"}, "traces", "list")
    with TestClient(create_app(home_settings(home))) as client:
        as_acme = client.get(f"/api/v1/traces/{trace_id}", headers={"Authorization": f"Bearer {acme_key}"})
        assert as_acme.status_code == 200
        keys_of_default = ok(env, "keys", "create", "--project", "default")
        default_key = KEY.findall(keys_of_default)[0]
        as_default = client.get(
            f"/api/v1/traces/{trace_id}", headers={"Authorization": f"Bearer {default_key}"}
        )
        assert as_default.status_code == 404

    unknown = run(env, "traces", "list", "--project", "nope")
    assert unknown.returncode == 1
    assert error_lines(unknown.stderr) == ["error: project 'nope' does not exist (projects: acme, default)"]


def test_prompts_create_show_label_render_diff(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    first, second = tmp_path / "v1.json", tmp_path / "v2.json"
    history = {"type": "placeholder", "name": "history"}
    first.write_text(json.dumps([{"role": "system", "content": "Help {{company}} customers."}, history]))
    second.write_text(
        json.dumps([{"role": "system", "content": "Help {{company}} customers, in {{language}}."}, history])
    )
    created = ok(env, "prompts", "create", "support", "--chat", "--file", str(first), "--label", "production",
                 "-m", "first cut", "--config", '{"model": "gpt-4o-mini"}')  # fmt: skip
    assert "support version 1 (chat, latest, production)" in created
    assert "variables: company; placeholders: history" in created
    assert "support version 2 (chat, latest)" in ok(
        env, "prompts", "create", "support", "--chat", "-f", str(second)
    )

    listing = ok({**env, "COLUMNS": "200"}, "prompts", "list")
    assert "latest→2, production→1" in listing
    assert "[system] Help {{company}} customers." in ok(
        env, "prompts", "show", "support", "--label", "production"
    )
    assert "production -> support version 2" in ok(env, "prompts", "label", "support", "production", "2")

    variables = ["--var", "company=Acme", "--var", "language=French",
                 "--var", 'history=[{"role": "user", "content": "Hi"}]']  # fmt: skip
    rendered = ok(env, "prompts", "render", "support", "--version", "2", *variables)
    assert rendered.splitlines() == ["[system] Help Acme customers, in French.", "[user] Hi"]
    missing = run(env, "prompts", "render", "support", "--var", "company=Acme")
    assert missing.returncode == 1
    assert error_lines(missing.stderr) == ["error: missing variables: language, history"]

    changes = ok(env, "prompts", "diff", "support", "1", "2")
    assert (
        "-Help {{company}} customers." in changes
        and "+Help {{company}} customers, in {{language}}." in changes
    )
    text = tmp_path / "plain.txt"
    text.write_text("Hi {{name}}")
    refused = run(env, "prompts", "create", "support", "--file", str(text))
    assert error_lines(refused.stderr)[0].startswith("error: prompt 'support' is a chat prompt")

    # A template an OpenInference span recorded inline becomes a prompt of its own.
    trace_id, span_id = new_trace_id(), new_span_id()
    inline = {"openinference.span.kind": "LLM", "llm.prompt_template.template": "Translate {{text}}."}
    export = tmp_path / "inline.json"
    export.write_text(json.dumps(otlp_json([span(trace_id, span_id, "translate", attributes=inline)])))
    ok(env, "import", str(export))
    imported = ok(env, "prompts", "import", trace_id, span_id, "translate")
    assert "translate version 1 (text, latest)" in imported and "Translate {{text}}." in imported


def test_commands_that_only_read_start_no_queue(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = cli_env(home)
    for command in (("traces", "list"), ("projects", "list"), ("keys", "list"), ("prices", "list")):
        ok(env, *command)
    assert (home / "tracereplay.db").exists()
    assert not (home / "queue.db").exists(), "a read-only command opened the job queue"


def test_import_then_list_and_show(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    single_id, single = agent_trace()
    pretty = tmp_path / "export.json"
    pretty.write_text(json.dumps(otlp_json(single), indent=2))

    # JSONL: one request per line; a trace may be split over several requests, root last.
    split_id, split = agent_trace(model="claude-3-5-haiku")
    other_id, other = agent_trace(model="gpt-4o")
    lines = [otlp_json(split[1:]), otlp_json(other), otlp_json(split[:1])]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    assert "imported 3 spans" in ok(env, "import", str(pretty))
    assert "imported 6 spans" in ok(env, "import", str(batch))

    # A wide terminal: at rich's default 80 columns for piped output the id column wraps.
    listing = ok({**env, "COLUMNS": "200"}, "traces", "list")
    for trace_id in (single_id, split_id, other_id):
        assert trace_id in listing
    assert listing.count("support-agent") == 3

    shown = ok(env, "traces", "show", split_id)
    lines_by_name = {
        name: next(line for line in shown.splitlines() if name in line)
        for name in ("support-agent", "ChatCompletion", "lookup-order")
    }
    assert "claude-3-5-haiku" in lines_by_name["ChatCompletion"]
    assert "15 tok" in lines_by_name["ChatCompletion"]
    assert "ERROR order service timed out" in lines_by_name["lookup-order"]
    # The LLM and tool spans hang below the root span.
    root_line = next(line for line in shown.splitlines() if "CHAIN support-agent" in line)
    indent = len(root_line) - len(root_line.lstrip(" │├└─"))
    for child in ("ChatCompletion", "lookup-order"):
        child_line = lines_by_name[child]
        assert len(child_line) - len(child_line.lstrip(" │├└─")) > indent, shown

    # Read again with the same mappers, nothing changes (tests/test_conventions.py has one that learnt).
    assert "9 spans in 3 traces read again; 0 changed" in ok(env, "traces", "renormalise")


def test_malformed_import_and_unknown_trace_fail_cleanly(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(otlp_json(agent_trace()[1])) + '\n{"resourceSpans": [ oops\n')
    result = run(env, "import", str(broken))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert error_lines(result.stderr)[0].startswith(f"error: {broken}:2: "), result.stderr

    unknown = run(env, "traces", "show", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr
    assert error_lines(unknown.stderr) == [
        "error: trace 0123456789abcdef0123456789abcdef not found in this project"
    ]


def test_malformed_pretty_printed_import_names_the_broken_line(tmp_path: Path) -> None:
    broken = tmp_path / "export.json"
    pretty = json.dumps(otlp_json(agent_trace()[1]), indent=2).splitlines()
    pretty.insert(3, "    oops,")
    broken.write_text("\n".join(pretty))
    result = run(cli_env(tmp_path / "home"), "import", str(broken))
    assert result.returncode == 1
    assert error_lines(result.stderr)[0].startswith(f"error: {broken}:4: "), result.stderr


def test_import_and_show_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(home=tmp_path / "home", database_url=postgres_url)
    ctx = AppContext.open(settings)
    with ctx.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    env = cli_env(settings.home, TRACEREPLAY_DATABASE_URL=postgres_url)
    trace_id, spans = agent_trace(model="gpt-4o")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(otlp_json(spans)))
    try:
        assert "imported 3 spans" in ok(env, "import", str(export))
        shown = ok(env, "traces", "show", trace_id)
        assert "gpt-4o" in shown and "lookup-order" in shown
        with ctx.sessions() as session:  # stored in PostgreSQL, not in a SQLite file in the home
            models = session.scalars(select(Span.model).join(Trace).where(Trace.trace_id == trace_id))
            assert "gpt-4o" in set(models)
        assert not (settings.home / "tracereplay.db").exists()
    finally:
        ctx.close()


def test_served_start_page_opens_the_dashboard(server: RunningServer) -> None:
    start = httpx.get(f"{server.url}/", timeout=5, follow_redirects=True)
    assert start.status_code == 200 and str(start.url).endswith("/p/default/traces")
    assert start.headers["content-type"].startswith("text/html")
    assert "<h1>Traces</h1>" in start.text
    assert f"<code>{server.url}/v1/traces</code>" in start.text  # where to send traces, while there are none
    assert httpx.get(f"{server.url}/api/v1/traces", headers=server.headers, timeout=5).status_code == 200


@contextmanager
def serve(home: Path) -> Iterator[tuple[str, str]]:
    """Start `tracereplay serve` on `home`; yields (url, everything it printed once ready)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = cli_env(home, TRACEREPLAY_PORT=str(port), TRACEREPLAY_LOG_LEVEL="warning")
    output = home.parent / f"serve-{port}.out"
    with output.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tracereplay", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "server did not become ready in 30 s"
            try:
                if httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, output.read_text(encoding="utf-8")
    finally:
        process.terminate()  # what `docker stop` and systemd send
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"serve ignored SIGTERM:\n{output.read_text()}") from None


def test_first_start_prints_a_working_key_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with serve(home) as (url, banner):
        assert f"on {url}" in banner
        assert f"OTLP endpoint: OTEL_EXPORTER_OTLP_ENDPOINT={url}" in banner
        keys = set(KEY.findall(banner))
        assert len(keys) == 1, banner
        key = keys.pop()
        assert f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {key}"' in banner
        auth = {"Authorization": f"Bearer {key}"}
        trace_id, spans = agent_trace()
        sent = httpx.post(f"{url}/v1/traces", content=trace_request(spans).SerializeToString(),
                          headers={**auth, "Content-Type": "application/x-protobuf"}, timeout=10)  # fmt: skip
        assert sent.status_code == 200, sent.text
        assert httpx.get(f"{url}/api/v1/traces/{trace_id}", headers=auth, timeout=5).status_code == 200

    with serve(home) as (url, banner):
        assert f"on {url}" in banner
        assert KEY.search(banner) is None, banner
        assert "API key" not in banner
        # The first key still works, and the trace sent before the restart is still there.
        listed = httpx.get(f"{url}/api/v1/traces", headers=auth, timeout=5)
        assert [t["trace_id"] for t in listed.json()["traces"]] == [trace_id]


def test_prices_set_list_delete_and_the_catalog_uses_them(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    assert "set price 1:" in ok(env, "prices", "set", "gpt-4o*", "--input", "2", "--output", "8")
    assert "replaced price 1:" in ok(env, "prices", "set", "gpt-4o*", "--input", "3", "--output", "9")
    listing = ok(env, "prices", "list")
    assert re.search(r"gpt-4o\*\s+│?\s*3\s+│?\s*9\s", listing), listing
    models = ok({**env, "OPENAI_API_KEY": "sk-test"}, "models")
    assert re.search(r"openai:gpt-4o-mini\s+│?\s*3\s+│?\s*9\s+│?\s*project override", models), models
    refused = run(env, "prices", "set", "gpt-4o*", "--input", "-1", "--output", "1")
    assert refused.returncode == 1
    assert error_lines(refused.stderr) == [
        "error: input_price_per_mtok must be a number of US $ per million tokens from 0 to 1e+06, not -1.0"
    ]
    assert "removed price 1 (gpt-4o*)" in ok(env, "prices", "delete", "1")
    missing = run(env, "prices", "delete", "1")
    assert missing.returncode == 1 and "no price override with id 1" in missing.stderr
