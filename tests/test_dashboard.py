"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a real
`tracereplay serve` whose demo traces were recorded by `tracereplay demo` with the local model.

A new user opens the demo, replays a trace (temperature override; another prompt version; one
span), watches the status reach COMPLETED without a reload, and compares; a failing provider
shows its error; recorded markup stays text; sign-in and CSRF hold. Every page visited is saved
as a screenshot under SCREENSHOTS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import RunningServer, start_server, stop_server
from tests.support.llm_server import Failure, LLMServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What a root, headless, offline chromium needs (no sandbox as root; no calls home).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
ROOT = Path(__file__).parent.parent
SCREENSHOTS = Path(os.environ.get("TRACEREPLAY_SCREENSHOTS", ROOT / "build" / "screenshots"))
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason="chromium is not installed (make test installs it)",
    ),
]


def cli(home: Path, *args: str, stdin: str | None = None, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", *args],
        env={**os.environ, "TRACEREPLAY_HOME": str(home), **env},
        input=stdin, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, _llm_server_session: LLMServer) -> Iterator[RunningServer]:
    """The demo as a new user starts it, with an OpenAI-compatible test server as a second provider."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    providers = {"TRACEREPLAY_OPENAI_API_KEY": "sk-test-not-a-real-key",
                 "TRACEREPLAY_OPENAI_BASE_URL": _llm_server_session.base_url,
                 "TRACEREPLAY_PROVIDER_MAX_RETRIES": "0"}  # fmt: skip
    cli(home, "demo", **providers)
    server = start_server(home, providers)
    created = httpx.post(f"{server.url}/api/v1/evaluators", headers=server.headers, timeout=10,
                         json={"name": "answers", "type": "contains", "config": {"text": "e"}})  # fmt: skip
    assert created.status_code == 201, created.text
    yield server
    stop_server(server)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on("dialog", lambda dialog: problems.append(f"a dialog opened: {dialog.message}"))
    yield opened
    context.close()
    assert not problems, problems


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def api(server: RunningServer, path: str) -> Any:
    answer = httpx.get(f"{server.url}/api/v1{path}", headers=server.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def evaluated(server: RunningServer, replay_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (replay := api(server, f"/replays/{replay_id}"))["evaluations"] != "done":
        assert time.monotonic() < deadline, replay
        time.sleep(0.2)
    return replay  # type: ignore[no-any-return]


def open_demo_trace(page: Page, server: RunningServer) -> str:
    """From the start page to the oldest demo trace, as a user clicks."""
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    links = page.locator("table a", has_text="weather-agent")
    expect(links.first).to_be_visible()
    links.last.click()
    expect(page.locator("[data-waterfall] li")).to_have_count(4)  # agent, plan, get_weather, answer
    return page.url.rsplit("/", 1)[-1].split("?")[0]


def follow_replay(page: Page) -> str:
    """On a replay's page: the status reaches COMPLETED with no reload; the replay's id."""
    expect(page.locator("#status")).to_have_text(re.compile("PENDING|RUNNING|COMPLETED"))
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#status")).to_have_text("COMPLETED", timeout=120_000)
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, never reloaded
    return page.url.rsplit("/", 1)[-1]


def test_a_new_user_replays_with_a_temperature_override_and_compares(page: Page, demo: RunningServer) -> None:
    trace_id = open_demo_trace(page, demo)
    shot(page, "trace-list-to-trace")
    page.goto(f"{demo.url}/p/default/traces")
    expect(page.locator("#charts figure").first).to_contain_text(re.compile(r"Traces\s*\d"))  # loaded after
    shot(page, "traces")
    page.goto(f"{demo.url}/p/default/traces/{trace_id}")
    shot(page, "trace")

    page.get_by_role("link", name="Replay", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Replay"))).to_be_visible()
    model = page.get_by_label("Model to replay with")
    model.select_option("local:gemma-3-270m")
    expect(page.locator("#estimate")).to_have_text("$0")  # the local model costs nothing
    model.select_option("openai:gpt-4o")
    expect(page.locator("#estimate")).to_have_text(re.compile(r"^\$0\.0"))  # priced, not unknown
    model.select_option("local:gemma-3-270m")
    page.get_by_label("temperature").fill("0.2")
    shot(page, "replay-form")
    page.get_by_role("button", name="Start replay").click()
    replay_id = follow_replay(page)
    expect(page.locator("#progress")).to_have_text("2/2 LLM spans")
    shot(page, "replay-completed")
    evaluated(demo, replay_id)

    page.get_by_role("link", name="Compare with the original").click()
    expect(page.get_by_role("heading", name="Comparison")).to_be_visible()
    duration = page.locator("#summary tr[data-metric='duration_ms'] td").last
    expect(duration).to_have_text(re.compile("better|worse|same"))
    expect(duration).to_have_class(re.compile("better|worse|same"))
    expect(page.locator("#summary tr[data-metric='cost'] td").last).to_have_text("same")  # $0 both
    scores = page.locator("#scores tbody tr", has_text="answers")
    expect(scores).to_have_count(1)
    expect(page.locator("#final-output")).to_contain_text("similar")
    pair = page.locator("#pairs tr.pair-row", has_text="plan")
    expect(pair).to_contain_text("parameters")
    pair.get_by_role("button", name="Show diff").click()
    diff = page.locator("[data-pair-diff]").first
    expect(diff).to_contain_text("Parameters")
    expect(diff).to_contain_text("temperature")
    expect(diff.locator("ins").first).to_be_visible()
    shot(page, "compare")

    page.goto(f"{demo.url}/p/default/traces/{trace_id}")
    history = page.locator("#history + .table-wrap tbody tr", has_text=replay_id[:12])
    expect(history).to_contain_text("temperature=0.2")
    expect(history).to_contain_text("COMPLETED")
    expect(history).to_contain_text("answers")


def test_a_prompt_version_replay(page: Page, demo: RunningServer) -> None:
    trace_id = open_demo_trace(page, demo)
    page.get_by_role("link", name="Replay", exact=True).click()
    version = page.get_by_label("Re-render the spans made from a template with")
    version.select_option(version.locator("option", has_text="weather-agent v2").get_attribute("value"))
    page.get_by_role("button", name="Start replay").click()
    follow_replay(page)
    page.get_by_role("link", name="Compare with the original").click()
    pair = page.locator("#pairs tr.pair-row", has_text="plan")
    expect(pair).to_contain_text("prompt v1 → v2")
    pair.get_by_role("button", name="Show diff").click()
    expect(page.locator("[data-pair-diff]").first).to_contain_text("Input messages")
    shot(page, "compare-prompt-version")
    assert trace_id


def test_a_single_span_replay_from_its_panel(page: Page, demo: RunningServer) -> None:
    trace_id = open_demo_trace(page, demo)
    page.locator("[data-waterfall] a", has_text="answer").click()
    panel = page.locator("#span-panel")
    expect(panel.get_by_role("heading", name=re.compile("^answer"))).to_be_visible()  # loaded in place
    assert page.url.endswith("?span=" + page.locator("#span-panel .mono").first.inner_text())
    shot(page, "trace-span-selected")
    panel.get_by_role("link", name="Replay this span").click()
    expect(page.get_by_role("heading", name=re.compile("^Replay one span"))).to_be_visible()
    page.get_by_role("button", name="Start replay").click()
    replay_id = follow_replay(page)
    expect(page.locator("#progress")).to_have_text("1/1 LLM spans")
    replay = api(demo, f"/replays/{replay_id}")
    assert replay["overrides"]["spanIds"] and replay["trace_id"] == trace_id


def test_a_failed_replay_shows_its_error(page: Page, demo: RunningServer, llm_server: LLMServer) -> None:
    llm_server.script(*[Failure.server_error("the test provider is down")] * 4)
    open_demo_trace(page, demo)
    page.get_by_role("link", name="Replay", exact=True).click()
    page.get_by_label("Model to replay with").select_option("openai:gpt-4o-mini")
    page.get_by_role("button", name="Start replay").click()
    expect(page.locator("#status")).to_have_text("FAILED", timeout=60_000)
    expect(page.locator("#replay-error")).to_contain_text("LLM spans failed")
    shot(page, "replay-failed")


def test_an_invalid_override_is_refused_on_the_form(page: Page, demo: RunningServer) -> None:
    open_demo_trace(page, demo)
    page.get_by_role("link", name="Replay", exact=True).click()
    page.get_by_label("temperature").fill("7")
    page.get_by_role("button", name="Start replay").click()
    expect(page.locator("#form-error")).to_contain_text("temperature")
    expect(page.get_by_label("temperature")).to_have_value("7")  # what was typed is kept
    shot(page, "replay-form-error")


def test_recorded_markup_is_shown_as_text(page: Page, demo: RunningServer) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    trace_id = "ab" * 16
    spans = [{"trace_id": trace_id, "span_id": "cd" * 8, "name": hostile, "kind": "LLM",
              "start_time": "2026-11-30T10:00:00Z", "end_time": "2026-11-30T10:00:01Z",
              "input_messages": [{"role": "user", "content": hostile}],
              "output_messages": [{"role": "assistant", "content": hostile}]}]  # fmt: skip
    sent = httpx.post(f"{demo.url}/api/v1/spans", headers=demo.headers, json={"spans": spans}, timeout=10)
    assert sent.status_code == 200, sent.text
    page.goto(f"{demo.url}/p/default/traces/{trace_id}")
    expect(page.locator("#span-panel")).to_contain_text(hostile)  # the characters, not elements
    assert page.locator("#span-panel img, #span-panel script").count() == 0


def test_one_call_recorded_twice_shows_as_one_call_with_both_records(page: Page, demo: RunningServer) -> None:
    # A library's span and the SDK's own inside it (as OpenInference and the anthropic SDK send).
    trace_id = "ef" * 16
    call = {"kind": "LLM", "provider": "anthropic", "model": "claude-haiku-5-5", "prompt_tokens": 20,
            "completion_tokens": 5}  # fmt: skip
    spans = [
        {**call, "trace_id": trace_id, "span_id": "a1" * 8, "name": "messages.create",
         "start_time": "2026-11-30T10:00:00Z", "end_time": "2026-11-30T10:00:02Z",
         "attributes": {"otel.scope.name": "openinference.instrumentation.anthropic"},
         "input_messages": [{"role": "user", "content": "Weather in Paris?"}],
         "output_messages": [{"role": "assistant", "content": "Sunny."}]},
        {**call, "trace_id": trace_id, "span_id": "b2" * 8, "parent_span_id": "a1" * 8,
         "name": "anthropic.messages.create", "start_time": "2026-11-30T10:00:00.1Z",
         "end_time": "2026-11-30T10:00:01.9Z",
         "attributes": {"otel.scope.name": "com.anthropic.sdk.python", "anthropic.request.id": "req_1"}},
    ]  # fmt: skip
    sent = httpx.post(f"{demo.url}/api/v1/spans", headers=demo.headers, json={"spans": spans}, timeout=10)
    assert sent.status_code == 200, sent.text
    assert api(demo, f"/traces/{trace_id}")["llm_span_count"] == 1
    page.goto(f"{demo.url}/p/default/traces/{trace_id}")
    rows = page.locator("[data-waterfall] a")
    expect(rows.filter(has_text="anthropic.messages.create")).to_contain_text("same call")
    panel = page.locator("#span-panel")  # the span that counts the call, with the other's attributes
    expect(panel).to_contain_text("the trace counts it once, through this span")
    panel.get_by_text("Also recorded by anthropic.messages.create").click()
    expect(panel).to_contain_text("anthropic.request.id")
    rows.filter(has_text="anthropic.messages.create").click()
    expect(panel).to_contain_text("through span " + "a1" * 8)
    shot(page, "trace-same-call")


def test_sign_in_is_required_off_loopback_and_forms_need_their_token(
    browser: Browser, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    cli(home, "projects", "create", "team-b")
    cli(home, "users", "create", "alice", "--project", "default", "--password-stdin", stdin=PASSWORD + "\n")
    cli(home, "users", "create", "bob", "--project", "team-b", "--password-stdin", stdin=PASSWORD + "\n")
    assert "alice" in cli(home, "users", "list")
    server = start_server(home, {"TRACEREPLAY_HOST": "0.0.0.0"})  # not loopback: the point of the test
    try:
        page = browser.new_page()
        page.goto(server.url + "/p/default/traces")
        expect(page).to_have_url(re.compile(r"/login\?next=/p/default/traces$"))
        shot(page, "login")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("wrong password!")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("wrong username or password")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile("/p/default/traces$"))
        expect(page.get_by_role("heading", name="Traces")).to_be_visible()
        cookie = next(c for c in page.context.cookies() if c["name"] == "tracereplay_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        # Bob's project is not Alice's: it answers as if it did not exist.
        assert page.goto(server.url + "/p/team-b/traces").status == 404  # type: ignore[union-attr]
        # Signing out ends the session everywhere: a copy of the cookie no longer signs in.
        copied = page.context.cookies()
        other = browser.new_context()
        other.add_cookies(copied)  # type: ignore[arg-type]
        stolen = other.new_page()
        stolen.goto(server.url + "/p/default/traces")
        expect(stolen.get_by_role("heading", name="Traces")).to_be_visible()
        # A form whose CSRF token was taken out is refused, and nothing happens.
        page.goto(server.url + "/p/default/traces")
        page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("alert")).to_contain_text("CSRF token")
        page.goto(server.url + "/p/default/traces")
        expect(page.get_by_role("heading", name="Traces")).to_be_visible()  # still signed in
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile("/login$"))
        stolen.goto(server.url + "/p/default/traces")
        expect(stolen).to_have_url(re.compile(r"/login\?next="))
        other.close()
        page.close()
        # The API still takes its key, with no session and no token.
        assert httpx.get(f"{server.url}/api/v1/traces", headers=server.headers, timeout=5).status_code == 200
    finally:
        stop_server(server)


def test_users_cli_refuses_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli(home, "projects", "list")

    def create(project: str, password: str) -> subprocess.CompletedProcess[str]:
        command = ["users", "create", "carol", "--project", project, "--password-stdin"]
        return subprocess.run([sys.executable, "-m", "tracereplay", *command], input=password,
                              env={**os.environ, "TRACEREPLAY_HOME": str(home)}, capture_output=True,
                              text=True, check=False)  # fmt: skip

    unknown = create("nope", PASSWORD)
    assert unknown.returncode != 0 and "no project named 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    short = create("default", "short")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    assert json.loads(cli(home, "users", "list", "--json")) == []


def test_prompt_pages_show_versions_a_diff_and_take_a_new_version(page: Page, demo: RunningServer) -> None:
    page.goto(demo.url + "/p/default/traces")
    page.get_by_role("link", name="Prompts", exact=True).click()
    page.get_by_role("link", name="weather-agent").click()
    expect(page.get_by_role("heading", name=re.compile("^Version 2"))).to_be_visible()  # the newest
    page.get_by_role("button", name="Diff").click()
    expect(page.locator("#version-diff ins").first).to_be_visible()
    shot(page, "prompt")
    page.get_by_label("Commit message").fill("shorter answers")
    page.get_by_label("Labels (comma-separated)").fill("staging")
    page.get_by_role("button", name="Create version 3").click()
    expect(page.get_by_role("heading", name=re.compile("^Version 3"))).to_contain_text("staging")
    page.get_by_label("Label", exact=True).fill("production")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_role("heading", name=re.compile("^Version 3"))).to_contain_text("production")
    page.goto(demo.url + "/p/default/prompts")
    expect(page.locator("table")).to_contain_text("production → v3")
    shot(page, "prompts")
    # A template that is not valid is refused on the form, and what was typed is kept.
    page.get_by_label("Name", exact=True).fill("broken")
    page.get_by_label("Type").select_option("chat")
    page.get_by_label("Template", exact=True).fill("[not json")
    page.get_by_role("button", name="Create version 1").click()
    expect(page.locator("#form-error")).to_contain_text("not valid JSON")
    expect(page.get_by_label("Template", exact=True)).to_have_value("[not json")


def test_evaluator_pages_create_disable_edit_and_preview(page: Page, demo: RunningServer) -> None:
    page.goto(demo.url + "/p/default/evaluators")
    form = page.locator("#new-evaluator")
    form.get_by_label("Name").fill("quick")
    form.get_by_label("Type").select_option("latency_max")
    form.get_by_label("Config (JSON object)").fill('{"max_ms": 60000}')
    form.get_by_role("button", name="Create evaluator").click()
    row = page.locator("#evaluators tr", has_text="quick")
    expect(row).to_contain_text("enabled")
    row.get_by_role("button", name="Disable quick").click()
    expect(page.locator("#evaluators tr", has_text="quick")).to_contain_text("disabled")
    shot(page, "evaluators")
    page.get_by_role("link", name="quick").click()
    page.get_by_label("Config (JSON object)").fill('{"max_ms": "soon"}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-error")).to_contain_text("max_ms")
    page.get_by_label("Config (JSON object)").fill('{"max_ms": 120000}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=re.compile("quick"))).to_contain_text("config v2")
    trace_id = api(demo, "/traces?limit=1")["traces"][0]["trace_id"]
    page.get_by_label("Trace id").fill(trace_id)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-result")).to_contain_text("pass")
    shot(page, "evaluator")


def test_settings_page_keys_providers_and_prices(page: Page, demo: RunningServer) -> None:
    page.goto(demo.url + "/p/default/settings")
    providers = page.locator("#provider-table")
    expect(providers.locator("tr", has_text="local")).to_contain_text("configured")
    expect(providers.locator("tr", has_text="anthropic")).to_contain_text("not configured")
    assert "sk-test-not-a-real-key" not in page.content()  # provider keys never leave the server
    page.get_by_label("Key name").fill("ci")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#created-key pre").inner_text().strip()
    assert key.startswith("tr-")
    with_key = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{demo.url}/api/v1/traces", headers=with_key).status_code == 200
    rows = page.locator("#keys + .table-wrap tbody tr").all_inner_texts()
    key_id = next(row for row in rows if "\tci\t" in row).split()[0]
    shot(page, "settings")
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    expect(page.locator("#keys + .table-wrap tbody tr", has_text=key[:8])).to_contain_text("revoked")
    assert httpx.get(f"{demo.url}/api/v1/traces", headers=with_key).status_code == 401
    page.get_by_label("Model or pattern").fill("gemma-*")
    page.get_by_label("Input $/Mtok").fill("0.5")
    page.get_by_label("Output $/Mtok").fill("1")
    page.get_by_role("button", name="Set price").click()
    expect(page.locator("#price-overrides")).to_contain_text("gemma-*")
    page.get_by_role("button", name="Remove the price of gemma-*").click()
    expect(page.locator("#price-overrides")).to_have_count(0)
    page.get_by_label("Input $/Mtok").fill("free")
    page.get_by_label("Model or pattern").fill("x")
    page.get_by_label("Output $/Mtok").fill("1")
    page.get_by_role("button", name="Set price").click()
    expect(page.locator("#form-error")).to_contain_text("number")


def test_a_prompt_config_is_shown_as_data(page: Page, demo: RunningServer) -> None:
    """A config value that would close an HTML attribute stays inside it."""
    hostile = {"note": '" autofocus onfocus="alert(3)" x="'}
    created = httpx.post(f"{demo.url}/api/v1/prompts", headers=demo.headers, timeout=10, json={
        "name": "quoted", "type": "text", "prompt": "Hi {{name}}", "config": hostile})  # fmt: skip
    assert created.status_code == 201, created.text
    page.goto(demo.url + "/p/default/prompts/quoted")
    assert json.loads(page.get_by_label("Config (JSON object, optional)").input_value()) == hostile
    page.get_by_role("button", name="Create version 2").click()  # the pre-filled form is valid
    expect(page.get_by_role("heading", name=re.compile("^Version 2"))).to_be_visible()


def test_bad_addresses_get_error_pages_not_stack_traces(demo: RunningServer) -> None:
    def get(path: str, **headers: str) -> httpx.Response:
        return httpx.get(demo.url + path, headers=headers, timeout=10)

    for path, status in [
        ("/p/default/traces/%00", 404), ("/p/default/traces/not-a-trace", 404),
        ("/p/default/traces?q=%00", 400), ("/p/default/traces?range=forever", 400),
        ("/p/default/replays/nope", 404), ("/p/default/compare", 422),
        ("/p/default/compare?base=" + "a" * 32 + "&target=" + "b" * 32, 404),
        ("/p/elsewhere/traces", 404), ("/p/default/prompts/nope", 404), ("/p/default/nowhere", 404),
    ]:  # fmt: skip
        answer = get(path)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html"), path
        assert 'role="alert"' in answer.text and "Traceback" not in answer.text, path
    # DNS rebinding: a page whose name points at this machine is not this dashboard's page.
    rebound = get("/p/default/traces", host="attacker.example")
    assert rebound.status_code == 403 and "TRACEREPLAY_DASHBOARD_AUTH=always" in rebound.text
    assert get("/p/default/traces", host=f"localhost:{demo.url.rsplit(':', 1)[1]}").status_code == 200


def test_a_session_key_must_be_long_enough(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from tracereplay.config import Settings
    from tracereplay.errors import StartupError
    from tracereplay.web.security import session_secret

    with pytest.raises(StartupError, match="at least 32"):
        session_secret(Settings(home=tmp_path, secret_key=SecretStr("")))
    made = session_secret(Settings(home=tmp_path))
    assert len(made) >= 32 and session_secret(Settings(home=tmp_path)) == made  # kept
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(StartupError, match="delete it"):
        session_secret(Settings(home=tmp_path))


def test_keyboard_only_and_dark(browser: Browser, demo: RunningServer) -> None:
    """A trace opened and a span chosen with the keyboard alone, on the dark theme; every
    focused control shows a visible outline."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    page = context.new_page()
    page.goto(demo.url + "/p/default/traces")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")  # to the main content
    for _ in range(60):  # through the filters to the first demo trace
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "weather-agent":
            break
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused != "none"
    page.keyboard.press("Enter")
    expect(page.locator("[data-waterfall] li")).to_have_count(4)
    page.locator("[data-waterfall] a", has_text="get_weather").focus()
    page.keyboard.press("Enter")
    expect(
        page.locator("#span-panel").get_by_role("heading", name=re.compile("^get_weather"))
    ).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 22, 26)", background  # the dark palette
    shot(page, "trace-dark")
    context.close()
