"""The trace query API (list, filter, sort, paginate, detail) through the ASGI app, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.otlp_builders import PROTOBUF, T0, llm_attributes, new_span_id, new_trace_id, span, trace_request
from tracereplay.context import AppContext
from tracereplay.db.models import Trace
from tracereplay.projects.service import create_project


def ingest(
    client: TestClient,
    spans: list[Any],
    resource: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    body = trace_request(spans, resource).SerializeToString()
    response = client.post("/v1/traces", content=body, headers={**PROTOBUF, **(headers or {})})
    assert response.status_code == 200, response.text


def list_ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/v1/traces", params=params)
    assert response.status_code == 200, response.text
    return [trace["trace_id"] for trace in response.json()["traces"]]


def at(ms: int) -> str:
    """The ISO timestamp `ms` milliseconds after the builders' T0."""
    return (datetime.fromtimestamp(T0 // 1_000_000_000, tz=UTC) + timedelta(milliseconds=ms)).isoformat()


def app_trace(
    name: str,
    *,
    start_ms: int,
    duration_ms: int,
    model: str,
    question: str,
    root_input: str,
    tokens: int,
    session: str,
    user: str,
    tags: list[str] | None = None,
    error: str | None = None,
) -> tuple[str, list[Any]]:
    """A root CHAIN span over one LLM span and one TOOL span (which fails if `error`)."""
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    end_ms = start_ms + duration_ms
    root_attributes: dict[str, Any] = {
        "openinference.span.kind": "CHAIN",
        "input.value": root_input,
        "output.value": "done",
        "session.id": session,
        "user.id": user,
    }
    if tags:
        root_attributes["tag.tags"] = tags
    llm_attrs = {**llm_attributes(model, question), "llm.token_count.total": tokens}
    spans = [
        span(trace_id, root, name, start_ms=start_ms, end_ms=end_ms, attributes=root_attributes),
        span(trace_id, llm, "llm", parent=root, start_ms=start_ms + 1, end_ms=end_ms - 10,
             attributes=llm_attrs),
        span(trace_id, tool, "tool", parent=root, start_ms=end_ms - 9, end_ms=end_ms - 1,
             attributes={"openinference.span.kind": "TOOL"}, error=error),
    ]  # fmt: skip
    return trace_id, spans


@dataclass
class Corpus:
    checkout_ok: str
    checkout_failed: str
    search: str


@pytest.fixture
def corpus(client: TestClient) -> Corpus:
    """Three traces that differ in every filterable field."""
    a, a_spans = app_trace(
        "checkout", start_ms=0, duration_ms=100, model="gpt-4o", question="Summarise the refund policy",
        root_input="where is my order", tokens=30, session="s-1", user="alice", tags=["prod", "vip"],
    )  # fmt: skip
    b, b_spans = app_trace(
        "checkout", start_ms=1000, duration_ms=300, model="gpt-4o-mini", question="Translate to German",
        root_input="cancel my order", tokens=10, session="s-2", user="bob", tags=["prod"],
        error="payment gateway timed out",
    )  # fmt: skip
    c, c_spans = app_trace(
        "search", start_ms=2000, duration_ms=200, model="claude-3-5-haiku", question="Rank these hotels",
        root_input="Weather in Oslo tomorrow", tokens=20, session="s-1", user="bob", tags=["beta"],
    )  # fmt: skip
    ingest(client, a_spans, {"service.name": "shop", "deployment.environment.name": "production"})
    ingest(client, b_spans, {"service.name": "shop", "deployment.environment.name": "staging"})
    ingest(client, c_spans)
    return Corpus(a, b, c)


def test_list_is_newest_first_by_default(client: TestClient, corpus: Corpus) -> None:
    response = client.get("/api/v1/traces")
    assert response.status_code == 200
    body = response.json()
    assert [t["trace_id"] for t in body["traces"]] == [
        corpus.search,
        corpus.checkout_failed,
        corpus.checkout_ok,
    ]
    assert body["next_cursor"] is None
    newest = body["traces"][0]
    assert newest["name"] == "search"
    assert newest["tags"] == ["beta"]
    assert newest["span_count"] == 3 and newest["llm_span_count"] == 1
    assert list_ids(client, order="asc") == [corpus.checkout_ok, corpus.checkout_failed, corpus.search]


def test_filters(client: TestClient, corpus: Corpus) -> None:
    a, b, c = corpus.checkout_ok, corpus.checkout_failed, corpus.search
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"start_after": at(1000)}, {b, c}),  # inclusive
        ({"start_before": at(2000)}, {a, b}),  # exclusive
        ({"start_after": at(500), "start_before": at(1500)}, {b}),
        ({"name": "checkout"}, {a, b}),
        ({"name": "check"}, set()),  # exact, not a prefix
        ({"tag": "prod"}, {a, b}),
        ({"tag": "vip"}, {a}),
        ({"model": "gpt-4o"}, {a}),  # not gpt-4o-mini
        ({"model": "gpt-4o-mini"}, {b}),
        ({"has_error": "true"}, {b}),
        ({"has_error": "false"}, {a, c}),
        ({"environment": "production"}, {a}),
        ({"environment": "staging"}, {b}),
        ({"session_id": "s-1"}, {a, c}),
        ({"user_id": "bob"}, {b, c}),
        ({"q": "refund policy"}, {a}),  # only in an LLM input message
        ({"q": "WEATHER in oslo"}, {c}),  # only in the root input; case-insensitive
        ({"q": "order"}, {a, b}),
        ({"q": "nothing mentions this"}, set()),
        ({"name": "checkout", "has_error": "false"}, {a}),
        ({"session_id": "s-1", "user_id": "bob", "tag": "beta"}, {c}),
    ]
    for params, expected in cases:
        assert set(list_ids(client, **params)) == expected, params


def test_sort_by_duration_tokens_and_cost(client: TestClient, ctx: AppContext, corpus: Corpus) -> None:
    a, b, c = corpus.checkout_ok, corpus.checkout_failed, corpus.search
    assert list_ids(client, sort="duration_ms", order="asc") == [a, c, b]
    assert list_ids(client, sort="duration_ms", order="desc") == [b, c, a]
    assert list_ids(client, sort="total_tokens", order="asc") == [b, c, a]
    assert list_ids(client, sort="total_tokens", order="desc") == [a, c, b]

    # Every trace here has the same tokens, hence the same cost: give them distinct ones.
    with ctx.sessions.begin() as session:
        for trace_id, cost in ((a, 0.5), (b, 0.01), (c, 0.2)):
            session.execute(update(Trace).where(Trace.trace_id == trace_id).values(cost=cost))
    assert list_ids(client, sort="cost", order="asc") == [b, c, a]
    assert list_ids(client, sort="cost", order="desc") == [a, c, b]

    invalid = client.get("/api/v1/traces", params={"sort": "name"})
    assert invalid.status_code == 422
    assert "sort" in invalid.json()["error"]["message"]


@pytest.fixture
def tied_traces(client: TestClient) -> list[str]:
    """Nine traces whose start times, durations and token counts tie in groups."""
    trace_ids = []
    for start_ms, duration_ms, tokens in [
        (0, 100, 5), (0, 100, 5), (0, 100, 7), (10, 200, 7), (10, 200, 5),
        (10, 100, 9), (20, 300, 9), (20, 100, 5), (30, 200, 7),
    ]:  # fmt: skip
        trace_id, spans = app_trace(
            "t", start_ms=start_ms, duration_ms=duration_ms, model="gpt-4o", question="q",
            root_input="i", tokens=tokens, session="s", user="u",
        )  # fmt: skip
        ingest(client, spans)
        trace_ids.append(trace_id)
    return trace_ids


def walk(client: TestClient, sort: str, order: str, page_size: int) -> tuple[list[str], int]:
    """Every trace id, following `next_cursor` page by page; and how many pages that took."""
    walked: list[str] = []
    params: dict[str, Any] = {"sort": sort, "order": order, "limit": page_size}
    for pages in range(1, 100):
        page = client.get("/api/v1/traces", params=params).json()
        walked += [t["trace_id"] for t in page["traces"]]
        if page["next_cursor"] is None:
            return walked, pages
        params["cursor"] = page["next_cursor"]
    raise AssertionError("pagination did not end")


def test_cursor_pagination_visits_every_trace_once(client: TestClient, tied_traces: list[str]) -> None:
    sorts = [
        ("start_time", "desc"),
        ("start_time", "asc"),
        ("duration_ms", "desc"),
        ("duration_ms", "asc"),
        ("total_tokens", "asc"),
        ("total_tokens", "desc"),
        ("cost", "desc"),
        ("cost", "asc"),
    ]  # fmt: skip  (same model and tokens everywhere: cost is one big tie)
    sort_key = {
        "start_time": lambda t: datetime.fromisoformat(t["start_time"]),
        "duration_ms": lambda t: t["duration_ms"],
        "total_tokens": lambda t: t["total_tokens"],
    }
    for sort, order in sorts:
        whole = client.get("/api/v1/traces", params={"sort": sort, "order": order, "limit": 500}).json()
        expected = [t["trace_id"] for t in whole["traces"]]
        assert sorted(expected) == sorted(tied_traces)
        if sort in sort_key:
            keys = [sort_key[sort](t) for t in whole["traces"]]
            assert keys == sorted(keys, reverse=order == "desc"), (sort, order)

        walked, pages = walk(client, sort, order, page_size=2)
        assert walked == expected, (sort, order)  # same order, nothing twice, nothing left out
        assert pages == 5
        # A full last page does not promise one more.
        assert walk(client, sort, order, page_size=9) == (expected, 1)
        assert walk(client, sort, order, page_size=3) == (expected, 3)


def test_invalid_cursor_and_limit(client: TestClient, corpus: Corpus) -> None:
    for cursor in ("not-a-cursor", "bnVsbA==", "e30="):  # garbage, `null`, `{}`
        response = client.get("/api/v1/traces", params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert "invalid cursor" in response.json()["error"]["message"]
    for limit in (0, 501, -1):
        response = client.get("/api/v1/traces", params={"limit": limit})
        assert response.status_code == 422, limit
        assert "limit" in response.json()["error"]["message"]
    assert len(list_ids(client, limit=500)) == 3
    assert len(list_ids(client, limit=1)) == 1


def test_cursor_of_another_sort_is_refused(client: TestClient, tied_traces: list[str]) -> None:
    by_start = client.get("/api/v1/traces", params={"limit": 2}).json()["next_cursor"]
    response = client.get("/api/v1/traces", params={"limit": 2, "sort": "duration_ms", "cursor": by_start})
    assert response.status_code == 400
    assert "invalid cursor" in response.json()["error"]["message"]


def test_trace_and_span_detail_and_not_found(client: TestClient, corpus: Corpus) -> None:
    trace = client.get(f"/api/v1/traces/{corpus.checkout_failed}").json()
    assert trace["name"] == "checkout"
    assert trace["environment"] == "staging"
    assert trace["error_count"] == 1
    assert [s["name"] for s in trace["spans"]] == ["checkout", "llm", "tool"]
    # Ids are case-insensitive hex.
    upper = client.get(f"/api/v1/traces/{corpus.checkout_failed.upper()}")
    assert upper.status_code == 200 and upper.json()["trace_id"] == corpus.checkout_failed

    unknown_trace = new_trace_id()
    missing = client.get(f"/api/v1/traces/{unknown_trace}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"trace {unknown_trace} not found in this project"

    unknown_span = new_span_id()
    missing_span = client.get(f"/api/v1/traces/{corpus.checkout_failed}/spans/{unknown_span}")
    assert missing_span.status_code == 404
    assert unknown_span in missing_span.json()["error"]["message"]
    span_of_unknown_trace = client.get(f"/api/v1/traces/{unknown_trace}/spans/{unknown_span}")
    assert span_of_unknown_trace.status_code == 404


def test_each_project_sees_only_its_own_traces(client: TestClient, ctx: AppContext) -> None:
    other = create_project(ctx.sessions, "other")
    other_auth = {"Authorization": f"Bearer {other.key}"}
    mine, my_spans = app_trace(
        "mine", start_ms=0, duration_ms=50, model="gpt-4o", question="q", root_input="shared words",
        tokens=1, session="s", user="u",
    )  # fmt: skip
    theirs, their_spans = app_trace(
        "theirs", start_ms=0, duration_ms=50, model="gpt-4o", question="q", root_input="shared words",
        tokens=1, session="s", user="u",
    )  # fmt: skip
    ingest(client, my_spans)
    ingest(client, their_spans, headers=other_auth)

    assert list_ids(client) == [mine]
    assert list_ids(client, q="shared words") == [mine]
    mine_seen_by_other = client.get("/api/v1/traces", headers=other_auth)
    assert [t["trace_id"] for t in mine_seen_by_other.json()["traces"]] == [theirs]

    assert client.get(f"/api/v1/traces/{theirs}").status_code == 404
    assert client.get(f"/api/v1/traces/{mine}", headers=other_auth).status_code == 404
    assert client.get(f"/api/v1/traces/{theirs}", headers=other_auth).status_code == 200
    their_span = their_spans[0].span_id.hex()
    assert client.get(f"/api/v1/traces/{theirs}/spans/{their_span}").status_code == 404

    # The same trace id sent to both projects stays two separate traces.
    ingest(client, their_spans)
    assert client.get(f"/api/v1/traces/{theirs}").json()["span_count"] == 3
    assert client.get(f"/api/v1/traces/{theirs}", headers=other_auth).json()["name"] == "theirs"
    assert set(list_ids(client)) == {mine, theirs}
    assert [t["trace_id"] for t in client.get("/api/v1/traces", headers=other_auth).json()["traces"]] == [
        theirs
    ]


def test_api_needs_a_key_but_health_does_not(client: TestClient) -> None:
    for path in ("/api/v1/traces", f"/api/v1/traces/{new_trace_id()}"):
        anonymous = client.get(path, headers={"Authorization": ""})
        assert anonymous.status_code == 401, path
        assert "missing API key" in anonymous.json()["error"]["message"]
        assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/v1/traces", headers={"Authorization": "Bearer tr-not-a-real-key-at-all"})
    assert wrong.status_code == 401
    assert "invalid or revoked" in wrong.json()["error"]["message"]
    api_key = client.headers["Authorization"].removeprefix("Bearer ")
    by_header = client.get("/api/v1/traces", headers={"Authorization": "", "x-api-key": api_key})
    assert by_header.status_code == 200

    health = client.get("/api/v1/health", headers={"Authorization": ""})
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = client.get("/api/v1/ready", headers={"Authorization": ""})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["database"] in ("sqlite", "postgresql")


def test_openapi_lists_the_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/v1/traces", "post"),
        ("/v1/logs", "post"),
        ("/api/v1/spans", "post"),
        ("/api/v1/traces", "get"),
        ("/api/v1/traces/{trace_id}", "get"),
        ("/api/v1/traces/{trace_id}/spans/{span_id}", "get"),
        ("/api/v1/health", "get"),
        ("/api/v1/ready", "get"),
    ]:
        assert method in paths.get(path, {}), path
    parameters = {p["name"] for p in paths["/api/v1/traces"]["get"]["parameters"]}
    assert {"start_after", "start_before", "name", "tag", "model", "has_error", "environment",
            "session_id", "user_id", "q", "sort", "order", "limit", "cursor"} <= parameters  # fmt: skip
    docs = client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
