"""The SDK as a user's app uses it: installed alone in its own venv (`.venv-sdk`, built by
`make test`) with `openai` and a real instrumentation library, recording a two-step agent
against a running server; then a replay with version 2 of its prompt, checked on what the test
LLM server received; then the prompt served from the SDK's cache while the server is stopped."""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracereplay_sdk
from tests.conftest import RunningServer, serving, stop_server
from tests.support.llm_server import LLMServer, Reply, ToolCall
from tests.support.replays import wait_for
from tracereplay.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SDK_PYTHON = Path(os.environ.get("TRACEREPLAY_SDK_PYTHON", ROOT / ".venv-sdk" / "bin" / "python"))
HISTORY = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
VARIABLES = {"company": "Acme", "history": HISTORY, "question": "Where is order 42?"}


def chat(system: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"}]  # fmt: skip


def head(system: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system},
        *HISTORY,
        {"role": "user", "content": "Where is order 42?"},
    ]


@pytest.fixture
def sdk_python() -> Path:
    if not SDK_PYTHON.exists():
        pytest.fail(f"{SDK_PYTHON} is missing: `make test` builds the SDK's own venv (.venv-sdk)")
    return SDK_PYTHON


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """An API client for whichever server fixture the test uses."""
    server: RunningServer = request.getfixturevalue(
        "replay_server" if "replay_server" in request.fixturenames else "server"
    )
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        yield client


@pytest.fixture
def replay_server(settings: Settings, tmp_path: Path, llm_server: LLMServer) -> Iterator[RunningServer]:
    env = {
        "TRACEREPLAY_OPENAI_API_KEY": "sk-test-not-a-real-key",
        "TRACEREPLAY_OPENAI_BASE_URL": llm_server.base_url,
        "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0",
    }
    with serving(settings, tmp_path, env) as running:
        yield running


def create_version(api: httpx.Client, system: str, **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/api/v1/prompts", json={"name": "support", "type": "chat", "prompt": chat(system), **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class Lines:
    """The app's stdout, line by line, readable with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self._lines.put(line) for line in stream], daemon=True).start()

    def until(self, predicate: Any, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"the app did not print the expected line; it printed: {seen}")


def test_the_sdk_venv_holds_none_of_the_server(sdk_python: Path) -> None:
    probe = "import importlib.util as u, tracereplay_sdk; print([m for m in ('tracereplay', 'fastapi', " \
        "'sqlalchemy', 'orjson') if u.find_spec(m)])"  # fmt: skip
    found = subprocess.run([sdk_python, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


@pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("library", ["openinference", "otel-genai"])
def test_an_app_on_the_sdk_is_linked_replayed_with_version_2_and_served_from_cache(
    library: str, sdk_python: Path, replay_server: RunningServer, llm_server: LLMServer, api: httpx.Client
) -> None:
    first = create_version(api, "You are a support agent for {{company}}.")
    assert api.post("/api/v1/prompts/support/labels", json={"label": "production", "version": 1}).is_success
    second = create_version(api, "You are a friendly support agent for {{company}}. Answer in one sentence.")
    llm_server.script(
        Reply(tool_calls=[ToolCall("lookup_order", {"order": 42}, id="call_1")]), Reply(text="It shipped.")
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRACEREPLAY_", "OTEL_"))},
        "TRACEREPLAY_ENDPOINT": replay_server.url,
        "TRACEREPLAY_API_KEY": replay_server.api_key,
        "LLM_BASE_URL": llm_server.base_url,
    }
    app = subprocess.Popen(
        [sdk_python, ROOT / "tests" / "sdk_app.py", library],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert app.stdin is not None and app.stdout is not None and app.stderr is not None
    try:
        out, logged = Lines(app.stdout), Lines(app.stderr)
        recorded = json.loads(out.until(lambda line: line.startswith("{")))
        assert recorded["answer"] == "It shipped."
        assert len(llm_server.bodies) == 2 and llm_server.bodies[0]["messages"] == head(
            "You are a support agent for Acme."
        )

        # Both LLM spans carry version 1 and the variables the app rendered it with.
        spans = api.get(f"/api/v1/traces/{recorded['trace_id']}").json()["spans"]
        calls = [s for s in spans if s["kind"] == "LLM"]
        assert len(calls) == 2
        for call in calls:
            assert call["prompt_template"] == {"name": "support", "version": 1, "variables": VARIABLES}
            assert call["prompt"]["linked"] and call["prompt"]["version_id"] == first["version_id"]
        assert all(s["prompt_template"] is None for s in spans if s["kind"] != "LLM")

        llm_server.reset()
        created = api.post(
            f"/api/v1/traces/{recorded['trace_id']}/replays",
            json={"promptTemplateVersionId": second["version_id"]},
        )
        assert created.status_code == 202, created.text
        replay = wait_for(api, created.json()["replay_id"])
        assert replay["status"] == "COMPLETED", replay
        v2 = head("You are a friendly support agent for Acme. Answer in one sentence.")
        planned, answered = sorted(llm_server.bodies, key=lambda body: len(body["messages"]))
        assert planned["messages"] == v2
        # The second step keeps the tool call and its result after the re-rendered messages.
        assert answered["messages"][:4] == v2
        assert answered["messages"][4]["tool_calls"][0]["function"] == {
            "name": "lookup_order",
            "arguments": '{"order": 42}',
        }
        assert answered["messages"][5]["role"] == "tool"
        assert answered["messages"][5]["tool_call_id"] == "call_1"
        assert answered["messages"][5]["content"] == "shipped yesterday"

        # Server stopped: the app still gets its prompt, from the cache, and says so.
        stop_server(replay_server)
        app.stdin.write("get\n")
        app.stdin.flush()
        assert json.loads(out.until(lambda line: line.startswith("{"))) == {"version": 1}
        warning = logged.until(lambda line: "from the cache" in line)
        assert warning.startswith("log: tracereplay: serving prompt 'support' version 1 from the cache")
        app.stdin.write("get\n")
        app.stdin.flush()
        assert json.loads(out.until(lambda line: line.startswith("{"))) == {"version": 1}
    finally:
        app.stdin.close()
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
        app.stdout.close()
        app.stderr.close()
    assert app.returncode == 0


def test_prompts_are_cached_revalidated_and_errors_say_what_to_do(
    server: RunningServer, api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    create_version(api, "v1 for {{company}}")
    client = tracereplay_sdk.PromptClient(server.url, server.api_key, cache_ttl=0)
    assert client.get("support", label="latest").version == 1
    create_version(api, "v2 for {{company}}")
    # Stale: the cached version comes back at once, and a background request revalidates it.
    assert client.get("support", label="latest").version == 1
    deadline = time.monotonic() + 10
    while client.get("support", label="latest").version != 2:
        assert time.monotonic() < deadline, "the cache was never revalidated"
        time.sleep(0.05)
    assert client.get("support", version=1).version == 1

    with pytest.raises(tracereplay_sdk.PromptNotFound, match="production"):
        client.get("support")  # no version carries the label yet
    with pytest.raises(tracereplay_sdk.PromptNotFound, match="nope"):
        client.get("nope")
    refused = tracereplay_sdk.PromptClient(server.url, "tr-wrong-key")
    with pytest.raises(tracereplay_sdk.PromptError, match="API key"):
        refused.get("support")
    refused.close()

    stop_server(server)
    with caplog.at_level(logging.WARNING, logger="tracereplay_sdk"):
        deadline = time.monotonic() + 10
        while "from the cache" not in caplog.text:
            assert client.get("support", label="latest").version == 2
            assert time.monotonic() < deadline, "no log line said the prompt came from the cache"
            time.sleep(0.05)
        assert caplog.text.count("from the cache") == 1  # once per outage, retried every 5 s
    with pytest.raises(tracereplay_sdk.PromptUnavailable, match="is the server running"):
        client.get("never-fetched")
    client.close()


def test_use_links_only_llm_spans_started_inside_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(tracereplay_sdk.PromptLinkProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    prompt = tracereplay_sdk.Prompt("support", 3, "chat", chat("Hi from {{company}}"))
    with pytest.raises(tracereplay_sdk.TemplateError, match="missing variables: question, history"):
        prompt.render(company="Acme")
    with pytest.raises(tracereplay_sdk.TemplateError, match="cannot be recorded as JSON"):
        prompt.use(
            **{**VARIABLES, "history": [{"role": "user", "content": "x", "score": float("nan")}]}
        ).__enter__()
    history = list(HISTORY)
    with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
        with prompt.use(**{**VARIABLES, "history": history}) as messages:
            assert messages == head("Hi from Acme")
            history.append({"role": "user", "content": "added inside the block"})  # not recorded
            tracer.start_span("chat", attributes={"gen_ai.operation.name": "chat"}).end()
            tracer.start_span("llm", attributes={"openinference.span.kind": "LLM"}).end()
            tracer.start_span("openllmetry", attributes={"llm.request.type": "chat"}).end()
            tracer.start_span("embed", attributes={"gen_ai.operation.name": "embeddings"}).end()
            tracer.start_span("tool", attributes={"openinference.span.kind": "TOOL"}).end()
            tracer.start_span("plain").end()
        tracer.start_span("after", attributes={"gen_ai.operation.name": "chat"}).end()
    linked = {
        s.name for s in exporter.get_finished_spans() if "tracereplay.prompt.name" in (s.attributes or {})
    }
    assert linked == {"chat", "llm", "openllmetry"}
    chat_span = next(s for s in exporter.get_finished_spans() if s.name == "chat")
    assert chat_span.attributes is not None
    assert chat_span.attributes["tracereplay.prompt.version"] == 3
    assert json.loads(str(chat_span.attributes["tracereplay.prompt.variables"])) == VARIABLES
