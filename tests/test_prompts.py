"""Prompt templates through the API: immutable versions, labels, variables, rendering, diffs."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import RunningServer
from tracereplay.context import AppContext
from tracereplay.projects.service import create_project

SUPPORT_V1 = [
    {"role": "system", "content": "You are a support agent for {{company}}. Be brief."},
    {"type": "placeholder", "name": "history"},
    {"role": "user", "content": "{{question}}"},
]
SUPPORT_V2 = [
    {
        "role": "system",
        "content": "You are a friendly support agent for {{company}}.\nAnswer in {{language}}.",
    },
    {"type": "placeholder", "name": "history"},
    {"role": "user", "content": "{{question}}"},
]


def create(client: httpx.Client, body: Any, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/prompts", json={"name": "support", "type": "chat", "prompt": body, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_versions_are_numbered_labelled_and_rendered(client: TestClient) -> None:
    config = {"model": "gpt-4o-mini", "temperature": 0.2}
    first = create(client, SUPPORT_V1, labels=["production"], config=config, commit_message="first cut")
    assert (first["version"], first["labels"]) == (1, ["latest", "production"])
    assert first["variables"] == ["company", "question"]
    assert first["placeholders"] == ["history"]
    second = create(client, SUPPORT_V2, config={"model": "gpt-4o-mini", "temperature": 0.7})
    assert (second["version"], second["labels"]) == (2, ["latest"])
    assert second["variables"] == ["company", "language", "question"]
    assert second["version_id"] != first["version_id"]

    assert client.get("/api/v1/prompts/support").json()["version"] == 2  # the latest
    assert client.get("/api/v1/prompts/support", params={"label": "production"}).json()["version"] == 1
    assert client.get("/api/v1/prompts/support", params={"version": 1}).json()["prompt"] == SUPPORT_V1
    assert client.get(f"/api/v1/prompt-versions/{second['version_id']}").json()["version"] == 2
    listed = client.get("/api/v1/prompts").json()["prompts"]
    assert [(p["name"], p["type"], p["latest_version"], p["labels"]) for p in listed] == [
        ("support", "chat", 2, {"latest": 2, "production": 1})
    ]
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
    rendered = client.post(
        "/api/v1/prompts/support/versions/2/render",
        json={"variables": {"company": "Acme", "language": "French", "question": "Where is my order?",
                            "history": history}},
    )  # fmt: skip
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["prompt"] == [
        {"role": "system", "content": "You are a friendly support agent for Acme.\nAnswer in French."},
        *history,
        {"role": "user", "content": "Where is my order?"},
    ]

    # Moving the label is one change: production leaves version 1 as it reaches version 2.
    moved = client.post("/api/v1/prompts/support/labels", json={"label": "production", "version": 2})
    assert moved.json()["labels"] == ["latest", "production"]
    assert client.get("/api/v1/prompts/support/versions/1").json()["labels"] == []
    assert client.delete("/api/v1/prompts/support/labels/production").status_code == 204
    assert client.get("/api/v1/prompts/support", params={"label": "production"}).status_code == 404

    changes = client.get("/api/v1/prompts/support/diff", params={"base": 1, "target": 2}).json()
    assert "-You are a support agent for {{company}}. Be brief." in changes["body"]
    assert "+Answer in {{language}}." in changes["body"]
    assert changes["config"]["changed"] == {"temperature": {"base": 0.2, "target": 0.7}}


def test_text_prompts_render_values_as_text_or_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/prompts",
        json={"name": "summarise", "prompt": "Summarise {{ text }} in {{n}} words. Keys: {{keys}}"},
    )
    assert response.status_code == 201
    assert response.json()["variables"] == ["text", "n", "keys"]
    rendered = client.post(
        "/api/v1/prompts/summarise/versions/1/render", json={"variables": {"text": "the report", "n": 20,
                                                                           "keys": ["a", "b"]}}
    )  # fmt: skip
    assert rendered.json()["prompt"] == 'Summarise the report in 20 words. Keys: ["a","b"]'


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/render", {"variables": {"company": "Acme"}}, 422, "missing variables: question, history"),
        ("/render", {"variables": {"company": "A", "question": "q", "history": "hi"}}, 422,
         'placeholder variable history must be a list of messages ({"role": …, "content": …})'),
    ],
)  # fmt: skip
def test_rendering_names_what_is_missing(
    client: TestClient, path: str, body: Any, status: int, error: str
) -> None:
    create(client, SUPPORT_V1)
    response = client.post(f"/api/v1/prompts/support/versions/1{path}", json=body)
    assert response.status_code == status
    assert response.json()["error"]["message"] == error


def test_bad_prompts_and_edits_are_refused(client: TestClient) -> None:
    create(client, SUPPORT_V1)
    refusals = [
        (client.post("/api/v1/prompts", json={"name": "x", "type": "chat",
                                              "prompt": [{"content": "no role"}]}),
         422, "invalid chat prompt: message 0 has no role"),
        (client.post("/api/v1/prompts", json={"name": "x", "type": "text", "prompt": ""}),
         422, "a text prompt is a non-empty string"),
        (client.post("/api/v1/prompts", json={"name": "support", "type": "text", "prompt": "hi"}),
         409, "prompt 'support' is a chat prompt; its versions keep that type (create a prompt with another "
              "name for a text prompt)"),
        (client.post("/api/v1/prompts", json={"name": "a/b", "prompt": "hi"}),
         422, "invalid prompt name 'a/b': 1 to 200 letters, digits, spaces, _ . - (starting with a letter or "
              "digit)"),
        (client.put("/api/v1/prompts/support/versions/1", json={"prompt": "changed"}),
         409, "prompt versions are immutable: version 1 of 'support' cannot be changed; create a new version "
              "(POST /api/v1/prompts with the same name) and move a label to it"),
        (client.post("/api/v1/prompts/support/labels", json={"label": "latest", "version": 1}),
         422, 'the "latest" label always names the newest version; it cannot be set or removed'),
        (client.post("/api/v1/prompts/support/labels", json={"label": "production", "version": 7}),
         404, "prompt 'support' has no version 7"),
        (client.get("/api/v1/prompts/nope"), 404,
         "no prompt named 'nope' in this project; GET /api/v1/prompts lists them"),
    ]  # fmt: skip
    for response, status, message in refusals:
        assert (response.status_code, response.json()["error"]["message"]) == (status, message)
    assert client.get("/api/v1/prompts/support/versions/1").json()["prompt"] == SUPPORT_V1


def test_prompts_belong_to_their_project(client: TestClient, ctx: AppContext) -> None:
    created = create(client, SUPPORT_V1)
    other = create_project(ctx.sessions, "other")
    headers = {"Authorization": f"Bearer {other.key}"}
    assert client.get("/api/v1/prompts", headers=headers).json()["prompts"] == []
    assert client.get("/api/v1/prompts/support", headers=headers).status_code == 404
    assert client.get(f"/api/v1/prompt-versions/{created['version_id']}", headers=headers).status_code == 404
    # The same name in another project is another prompt, numbered from 1.
    theirs = client.post(
        "/api/v1/prompts", headers=headers, json={"name": "support", "prompt": "Hi {{name}}"}
    )
    assert theirs.json()["version"] == 1


def test_concurrent_versions_and_label_moves(server: RunningServer) -> None:
    """Versions get distinct numbers and a label is always on exactly one version, whatever
    the interleaving of writers."""
    errors: list[str] = []
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        for text in ("first {{x}}", "second {{x}}"):
            assert client.post("/api/v1/prompts", json={"name": "race", "prompt": text}).status_code == 201

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
            for i in range(4):
                response = client.post(
                    "/api/v1/prompts", json={"name": "race", "prompt": f"v {n}.{i} {{{{x}}}}"}
                )
                if response.status_code != 201:
                    errors.append(response.text)
                moved = client.post(
                    "/api/v1/prompts/race/labels", json={"label": "production", "version": 1 + n % 2}
                )
                if moved.status_code != 200:
                    errors.append(moved.text)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        versions = client.get("/api/v1/prompts/race/versions").json()["versions"]
        assert sorted(v["version"] for v in versions) == list(range(1, 27))
        labelled = [v["version"] for v in versions if "production" in v["labels"]]
        assert len(labelled) == 1 and labelled[0] in (1, 2)
        assert (
            client.get("/api/v1/prompts/race", params={"label": "production"}).json()["version"]
            == labelled[0]
        )


def test_odd_recorded_links_and_numbers_are_answered_not_crashed(client: TestClient) -> None:
    from tests.otlp_builders import PROTOBUF, new_span_id, new_trace_id, span, trace_request

    create(client, SUPPORT_V1)
    trace_id = new_trace_id()
    spans = [
        span(trace_id, new_span_id(), "float-version", attributes={
            "openinference.span.kind": "LLM", "llm.prompt_template.template": "Hi {{x}}",
            "llm.prompt_template.version": 1.5, "tracereplay.prompt.name": "support"}),
        span(trace_id, new_span_id(), "odd-digits", attributes={
            "openinference.span.kind": "LLM", "tracereplay.prompt.name": "support",
            "tracereplay.prompt.version": "²"}),
        span(trace_id, new_span_id(), "string-one", attributes={
            "openinference.span.kind": "LLM", "tracereplay.prompt.name": "support",
            "tracereplay.prompt.version": "1"}),
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    links = {s["name"]: s["prompt"] for s in client.get(f"/api/v1/traces/{trace_id}").json()["spans"]}
    assert links["float-version"]["reason"] == "version '1.5' is not a number"
    assert links["odd-digits"]["reason"] == "version '²' is not a number"
    assert (links["string-one"]["linked"], links["string-one"]["version"]) == (True, 1)

    huge = client.post("/api/v1/prompts/support/versions/1/render",
                       json={"variables": {"company": 10**30, "question": "q", "history": []}})  # fmt: skip
    assert huge.status_code == 422 and "variable company cannot be stored as JSON" in huge.text
    bad_config = client.post("/api/v1/prompts", json={"name": "support", "type": "chat", "prompt": SUPPORT_V1,
                                                      "config": {"model": 7}})  # fmt: skip
    assert bad_config.status_code == 422
    assert client.get("/api/v1/prompts/support/versions/99999999999999999999").status_code == 422
    assert client.get("/api/v1/prompts/bad%00name").status_code == 404
