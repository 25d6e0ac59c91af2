"""Replay with another version of a prompt template (DESIGN rule 2), end to end: spans linked
at ingestion, re-rendered with their recorded variables, checked on what the LLM server got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH
from tests.otlp_builders import PROTOBUF, new_span_id, new_trace_id, span, trace_request
from tests.support.llm_server import LLMServer
from tests.support.replays import wait_for
from tests.test_replay import replay_settings
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext

SYSTEM_V1 = "You are a support agent for {{company}}."
SYSTEM_V2 = "You are a friendly support agent for {{company}}. Answer in one sentence."
HISTORY = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
VARIABLES = {"company": "Acme", "question": "Where is order 42?", "history": HISTORY}


def chat(system: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"}]  # fmt: skip


def v1_rendered() -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are a support agent for Acme."}, *HISTORY,
            {"role": "user", "content": "Where is order 42?"}]  # fmt: skip


def message_attributes(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenInference's flattened input messages, as its instrumentation records them."""
    attributes: dict[str, Any] = {}
    for index, message in enumerate(messages):
        prefix = f"llm.input_messages.{index}.message"
        attributes[f"{prefix}.role"] = message["role"]
        if message.get("content") is not None:
            attributes[f"{prefix}.content"] = message["content"]
        if message.get("tool_call_id"):
            attributes[f"{prefix}.tool_call_id"] = message["tool_call_id"]
        for position, call in enumerate(message.get("tool_calls") or []):
            call_prefix = f"{prefix}.tool_calls.{position}.tool_call"
            attributes[f"{call_prefix}.id"] = call["id"]
            attributes[f"{call_prefix}.function.name"] = call["name"]
            attributes[f"{call_prefix}.function.arguments"] = call["arguments"]
    return attributes


def llm(messages: list[dict[str, Any]], *, linked: bool, version: int = 1) -> dict[str, Any]:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.invocation_parameters": json.dumps({"temperature": 0.9}),
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "ok",
        **message_attributes(messages),
    }
    if linked:
        attributes |= {"tracereplay.prompt.name": "support", "tracereplay.prompt.version": version,
                       "tracereplay.prompt.variables": json.dumps(VARIABLES)}  # fmt: skip
    return attributes


TOOL_STEP = [
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "name": "lookup_order", "arguments": '{"order": 42}'}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "shipped yesterday"},
]  # fmt: skip
SUMMARY = [{"role": "user", "content": "Summarise: order 42 shipped yesterday."}]


@pytest.fixture
def prompt_client(settings: Settings, ctx: AppContext, llm_server: LLMServer) -> Iterator[TestClient]:
    del ctx  # truncates the PostgreSQL test database first
    configured = replay_settings(settings, llm_server)
    with TestClient(create_app(configured, run_worker=True), headers=AUTH) as client:
        yield client


def agent_trace(client: TestClient) -> str:
    """An agent whose two steps were rendered from version 1 of "support" (the second after a
    tool call and its result), and a summary step that used no template."""
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=1000, attributes={"openinference.span.kind": "AGENT"}),
        span(trace_id, new_span_id(), "plan", parent=root, end_ms=300,
             attributes=llm(v1_rendered(), linked=True)),
        span(trace_id, new_span_id(), "lookup_order", parent=root, start_ms=300, end_ms=400,
             attributes={"openinference.span.kind": "TOOL", "output.value": "shipped yesterday"}),
        span(trace_id, new_span_id(), "answer", parent=root, start_ms=400, end_ms=700,
             attributes=llm(v1_rendered() + TOOL_STEP, linked=True)),
        span(trace_id, new_span_id(), "summarise", parent=root, start_ms=700, end_ms=900,
             attributes=llm(SUMMARY, linked=False)),
    ]  # fmt: skip
    assert (
        client.post(
            "/v1/traces", content=trace_request(spans).SerializeToString(), headers=PROTOBUF
        ).status_code
        == 200
    )
    return trace_id


def create_version(client: TestClient, system: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/prompts", json={"name": "support", "type": "chat", "prompt": chat(system), **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_replay_with_version_2_rerenders_only_the_linked_spans(
    prompt_client: TestClient, llm_server: LLMServer
) -> None:
    create_version(prompt_client, SYSTEM_V1)
    second = create_version(prompt_client, SYSTEM_V2, config={"temperature": 0})
    trace_id = agent_trace(prompt_client)
    stored = prompt_client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    plan = next(s for s in stored if s["name"] == "plan")
    assert plan["prompt_template"] == {"name": "support", "version": 1, "variables": VARIABLES}

    created = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": second["version_id"]}
    )
    assert created.status_code == 202, created.text
    replay = wait_for(prompt_client, created.json()["replay_id"])
    assert replay["status"] == "COMPLETED", replay

    system = "You are a friendly support agent for Acme. Answer in one sentence."
    v2_head = [
        {"role": "system", "content": system},
        *HISTORY,
        {"role": "user", "content": "Where is order 42?"},
    ]
    sent = {tuple(m.get("content") for m in body["messages"]): body for body in llm_server.bodies}
    assert len(sent) == 3
    bodies = list(sent.values())
    planned = next(b for b in bodies if len(b["messages"]) == 4)
    answered = next(b for b in bodies if len(b["messages"]) == 6)
    summarised = next(b for b in bodies if len(b["messages"]) == 1)
    assert planned["messages"] == v2_head
    # The second step keeps its tool call and tool result after the re-rendered messages.
    assert answered["messages"][:4] == v2_head
    assert answered["messages"][4]["tool_calls"][0]["function"] == {
        "name": "lookup_order",
        "arguments": '{"order": 42}',
    }
    assert answered["messages"][5] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "shipped yesterday",
    }
    # The version's config applies to the spans it rendered; the summary keeps its own.
    assert planned["temperature"] == 0 and answered["temperature"] == 0
    assert summarised["messages"] == SUMMARY and summarised["temperature"] == 0.9

    result = prompt_client.get(f"/api/v1/traces/{replay['result_trace_id']}").json()["spans"]
    replayed_plan = next(s for s in result if s["name"] == "plan")
    assert replayed_plan["prompt_template"]["version"] == 2
    assert replayed_plan["prompt_template"]["id"] == second["version_id"]
    assert replayed_plan["input_messages"] == v2_head  # what was sent is what is stored
    assert next(s for s in result if s["name"] == "summarise")["prompt_template"] is None


def test_versions_the_spans_cannot_render_are_refused_with_names(
    prompt_client: TestClient, llm_server: LLMServer
) -> None:
    create_version(prompt_client, SYSTEM_V1)
    needs_tone = create_version(prompt_client, SYSTEM_V1 + " Use a {{tone}} tone.")
    trace_id = agent_trace(prompt_client)
    refused = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": needs_tone["version_id"]}
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert "version 2 needs variable tone, which the span did not record" in error["message"]
    spans = error["details"]["spans"]
    assert sorted(s["span"] for s in spans) == ["answer", "plan"]
    assert all(s["missing_variables"] == ["tone"] for s in spans)

    other = prompt_client.post("/api/v1/prompts", json={"name": "other", "prompt": "Hi {{name}}"}).json()
    unlinked = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": other["version_id"]}
    )
    assert unlinked.status_code == 422
    assert "no LLM span of this trace was produced from prompt 'other'" in unlinked.json()["error"]["message"]
    assert prompt_client.get(f"/api/v1/traces/{trace_id}/replays").json()["replays"] == []
    assert llm_server.bodies == []


def test_a_span_whose_input_does_not_hold_its_version_is_refused(prompt_client: TestClient) -> None:
    create_version(prompt_client, "A different system prompt for {{company}}.")
    second = create_version(prompt_client, SYSTEM_V2)
    trace_id = agent_trace(prompt_client)  # its spans claim version 1, but were rendered otherwise
    refused = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": second["version_id"]}
    )
    assert refused.status_code == 422
    assert (
        "its input does not start with its recorded version rendered with its variables"
        in (refused.json()["error"]["message"])
    )


def test_inline_templates_are_imported_in_one_call_then_replayed(
    prompt_client: TestClient, llm_server: LLMServer
) -> None:
    """OpenInference records the template inline, with no prompt name: the span shows as
    unlinked, one call imports its template, and it can then be replayed with a new version."""
    trace_id, root, translate, other = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    inline = {
        "llm.prompt_template.template": "Translate {{text}} into French.",
        "llm.prompt_template.version": "v1.0",
        "llm.prompt_template.variables": json.dumps({"text": "good morning"}),
    }
    spans = [
        span(trace_id, root, "app", end_ms=900, attributes={"openinference.span.kind": "CHAIN"}),
        span(trace_id, translate, "translate", parent=root, end_ms=400,
             attributes={**llm([{"role": "user", "content": "Translate good morning into French."}],
                               linked=False), **inline}),
        span(trace_id, other, "elsewhere", parent=root, start_ms=400, end_ms=800,
             attributes={**llm(SUMMARY, linked=False), "tracereplay.prompt.name": "nope",
                         "tracereplay.prompt.version": 1}),
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert prompt_client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200

    def links() -> dict[str, Any]:
        stored = prompt_client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
        return {s["name"]: s["prompt"] for s in stored}

    before = links()
    assert before["app"] is None
    assert before["translate"]["linked"] is False
    assert "recorded its template inline" in before["translate"]["reason"]
    assert before["elsewhere"] == {"name": "nope", "version": 1, "version_id": None, "linked": False,
                                   "reason": "no prompt named 'nope' in this project"}  # fmt: skip

    imported = prompt_client.post(
        "/api/v1/prompts/import", json={"trace_id": trace_id, "span_id": translate, "name": "translate"}
    )
    assert imported.status_code == 201, imported.text
    assert (imported.json()["version"], imported.json()["prompt"]) == (1, "Translate {{text}} into French.")
    after = links()["translate"]
    assert (after["linked"], after["name"], after["version"]) == (True, "translate", 1)
    not_inline = prompt_client.post(
        "/api/v1/prompts/import", json={"trace_id": trace_id, "span_id": other, "name": "translate"}
    )
    assert not_inline.status_code == 422

    second = prompt_client.post(
        "/api/v1/prompts", json={"name": "translate", "prompt": "Translate {{text}} into German, politely."}
    ).json()
    created = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": second["version_id"]}
    )
    assert created.status_code == 202, created.text
    assert wait_for(prompt_client, created.json()["replay_id"])["status"] == "COMPLETED"
    sent = [body["messages"] for body in llm_server.bodies]
    assert [{"role": "user", "content": "Translate good morning into German, politely."}] in sent
    assert SUMMARY in sent  # the span of another prompt keeps its messages


def test_a_history_placeholder_keeps_the_messages_recorded_for_it(
    prompt_client: TestClient, llm_server: LLMServer
) -> None:
    """The history variable holds messages as the app passed them (OpenAI shape, a tool call);
    the replay sends the messages recorded for the placeholder, tool call and all."""
    history_as_sent = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "greet", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "hello"},
    ]  # fmt: skip
    history_recorded = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [{"id": "call_0", "name": "greet", "arguments": "{}"}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "hello"},
    ]
    variables = {**VARIABLES, "history": history_as_sent}
    recorded = [{"role": "system", "content": "You are a support agent for Acme."}, *history_recorded,
                {"role": "user", "content": "Where is order 42?"}]  # fmt: skip
    attributes = {**llm(recorded, linked=True), "tracereplay.prompt.variables": json.dumps(variables)}
    create_version(prompt_client, SYSTEM_V1)
    second = create_version(prompt_client, SYSTEM_V2)
    trace_id = new_trace_id()
    body = trace_request([span(trace_id, new_span_id(), "plan", attributes=attributes)]).SerializeToString()
    assert prompt_client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    created = prompt_client.post(
        f"/api/v1/traces/{trace_id}/replays", json={"promptTemplateVersionId": second["version_id"]}
    )
    assert created.status_code == 202, created.text
    assert wait_for(prompt_client, created.json()["replay_id"])["status"] == "COMPLETED"
    sent = llm_server.bodies[-1]["messages"]
    assert sent[0]["content"] == "You are a friendly support agent for Acme. Answer in one sentence."
    assert sent[2]["tool_calls"][0]["function"] == {"name": "greet", "arguments": "{}"}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_0", "content": "hello"}
    assert sent[4] == {"role": "user", "content": "Where is order 42?"}
