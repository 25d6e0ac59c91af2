"""Cost of LLM spans at ingestion: bundled genai-prices data, user overrides, unknown models."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import AUTH, RunningServer
from tests.otlp_builders import PROTOBUF, llm_attributes, new_span_id, new_trace_id, span, trace_request
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.pricing.book import PriceBook
from tracereplay.projects.service import create_project


def ingest_llm_span(client: TestClient, model: str, provider: str = "openai") -> dict:  # type: ignore[type-arg]
    trace_id, span_id = new_trace_id(), new_span_id()
    attributes = {**llm_attributes(model), "llm.provider": provider,
                  "llm.token_count.prompt": 2_000, "llm.token_count.completion": 500}  # fmt: skip
    body = trace_request([span(trace_id, span_id, "chat", attributes=attributes)]).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    return client.get(f"/api/v1/traces/{trace_id}").json()  # type: ignore[no-any-return]


def test_cost_comes_from_bundled_prices(client: TestClient) -> None:
    trace = ingest_llm_span(client, "gpt-4o-mini")
    price = PriceBook().price("openai", "gpt-4o-mini")
    assert price is not None and price.source == "genai-prices"
    expected = (2_000 * price.input_per_mtok + 500 * price.output_per_mtok) / 1e6
    assert trace["spans"][0]["cost"] == pytest.approx(expected)
    assert trace["cost"] == pytest.approx(expected)
    assert expected > 0


def test_unknown_model_has_unknown_cost_not_zero(client: TestClient) -> None:
    trace = ingest_llm_span(client, "my-private-finetune-7b", provider="vllm")
    assert trace["spans"][0]["cost"] is None
    assert trace["cost"] is None


@pytest.fixture
def priced_client(settings: Settings, ctx: AppContext) -> Iterator[TestClient]:
    del ctx  # truncates the PostgreSQL test database first
    overridden = settings.model_copy(
        update={
            "prices": {
                "my-private-*": {"input": 1.0, "output": 2.0},
                "openai:gpt-4o-mini": {"input": 10, "output": 20},
            }
        }
    )
    context = AppContext.open(overridden)
    try:
        with TestClient(create_app(overridden, ctx=context), headers=AUTH) as test_client:
            yield test_client
    finally:
        context.close()


def test_user_overrides_win_by_pattern_and_by_provider(priced_client: TestClient) -> None:
    custom = ingest_llm_span(priced_client, "my-private-finetune-7b", provider="vllm")
    assert custom["spans"][0]["cost"] == pytest.approx((2_000 * 1.0 + 500 * 2.0) / 1e6)
    openai = ingest_llm_span(priced_client, "gpt-4o-mini")
    assert openai["spans"][0]["cost"] == pytest.approx((2_000 * 10 + 500 * 20) / 1e6)


def test_project_price_overrides_through_the_api(priced_client: TestClient, settings: Settings) -> None:
    client = priced_client
    # Server-wide override first; a project's own price wins over it, most specific pattern first.
    assert ingest_llm_span(client, "gpt-4o-mini")["cost"] == pytest.approx((2_000 * 10 + 500 * 20) / 1e6)
    broad = client.post("/api/v1/prices", json={"model_pattern": "gpt-4o*", "input_price_per_mtok": 3,
                                                "output_price_per_mtok": 4})  # fmt: skip
    assert broad.status_code == 201, broad.text
    narrow = client.post("/api/v1/prices", json={"model_pattern": "gpt-4o-mini*", "input_price_per_mtok": 1,
                                                 "output_price_per_mtok": 1})  # fmt: skip
    assert narrow.status_code == 201
    assert ingest_llm_span(client, "gpt-4o-mini")["cost"] == pytest.approx((2_000 + 500) / 1e6)
    assert ingest_llm_span(client, "gpt-4o")["cost"] == pytest.approx((2_000 * 3 + 500 * 4) / 1e6)

    # Same pattern again replaces (200); the catalog and later spans use the new price.
    replaced = client.post("/api/v1/prices", json={"model_pattern": "gpt-4o-mini*", "input_price_per_mtok": 5,
                                                   "output_price_per_mtok": 6})  # fmt: skip
    assert replaced.status_code == 200 and replaced.json()["id"] == narrow.json()["id"]
    assert ingest_llm_span(client, "gpt-4o-mini")["cost"] == pytest.approx((2_000 * 5 + 500 * 6) / 1e6)
    listed = client.get("/api/v1/prices").json()["prices"]
    assert [(p["model_pattern"], p["input_price_per_mtok"]) for p in listed] == [
        ("gpt-4o*", 3),
        ("gpt-4o-mini*", 5),
    ]

    # Removing the project's prices falls back to the server's.
    for price in listed:
        assert client.delete(f"/api/v1/prices/{price['id']}").status_code == 200
    assert ingest_llm_span(client, "gpt-4o-mini")["cost"] == pytest.approx((2_000 * 10 + 500 * 20) / 1e6)
    missing = client.delete(f"/api/v1/prices/{listed[0]['id']}")
    assert missing.status_code == 404
    assert "GET /api/v1/prices" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, problem",
    [
        (
            {"model_pattern": "gpt-4o", "input_price_per_mtok": -1, "output_price_per_mtok": 1},
            "input_price_per_mtok",
        ),
        ({"model_pattern": "", "input_price_per_mtok": 1, "output_price_per_mtok": 1}, "model_pattern"),
        ({"model_pattern": "gpt-4o", "input_price_per_mtok": 1}, "output_price_per_mtok"),
        (
            {"model_pattern": "x" * 201, "input_price_per_mtok": 1, "output_price_per_mtok": 1},
            "model_pattern",
        ),
    ],
)
def test_invalid_price_overrides_are_refused(client: TestClient, body: dict, problem: str) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/prices", json=body)
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert client.get("/api/v1/prices").json()["prices"] == []


def test_price_overrides_belong_to_their_project(settings: Settings, ctx: AppContext) -> None:
    keyed = settings.model_copy(update={"openai_api_key": SecretStr("sk-test")})  # lists OpenAI models
    context = AppContext.open(keyed)
    with TestClient(create_app(keyed, ctx=context), headers=AUTH) as client:
        _check_isolation(client, ctx)


def _check_isolation(client: TestClient, ctx: AppContext) -> None:
    other = create_project(ctx.sessions, "other")
    other_headers = {"Authorization": f"Bearer {other.key}"}
    created = client.post("/api/v1/prices", json={"model_pattern": "gpt-4o-mini", "input_price_per_mtok": 100,
                                                  "output_price_per_mtok": 100})  # fmt: skip
    assert created.status_code == 201
    assert client.get("/api/v1/prices", headers=other_headers).json()["prices"] == []
    assert client.delete(f"/api/v1/prices/{created.json()['id']}", headers=other_headers).status_code == 404
    mine = {m["model"]: m for m in client.get("/api/v1/models").json()["models"]}
    theirs = {m["model"]: m for m in client.get("/api/v1/models", headers=other_headers).json()["models"]}
    assert mine["openai:gpt-4o-mini"]["price_source"] == "project override"
    assert theirs["openai:gpt-4o-mini"]["price_source"] == "genai-prices"
    # Spans of the other project keep the bundled price.
    bundled = PriceBook().price("openai", "gpt-4o-mini")
    assert bundled is not None
    theirs_trace = ingest_llm_span(TestClient(client.app, headers=other_headers), "gpt-4o-mini")
    assert theirs_trace["cost"] == pytest.approx(
        (2_000 * bundled.input_per_mtok + 500 * bundled.output_per_mtok) / 1e6
    )
    assert ingest_llm_span(client, "gpt-4o-mini")["cost"] == pytest.approx((2_000 + 500) * 100 / 1e6)


def test_helper_processes_price_large_requests_like_the_server(server: RunningServer) -> None:
    """Bodies over 16 KB are decoded by helper processes; their spans are priced by the server
    like any other, with bundled prices and the project's own."""
    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    assert client.post("/api/v1/prices", json={"model_pattern": "my-finetune", "input_price_per_mtok": 7,
                                               "output_price_per_mtok": 9}).status_code == 201  # fmt: skip
    trace_id = new_trace_id()
    spans = [
        span(trace_id, new_span_id(), f"chat-{i}",
             attributes={**llm_attributes("gpt-4o-mini" if i % 2 else "my-finetune",
                                          question="x" * 500 + str(i))})
        for i in range(60)
    ]  # fmt: skip
    body = trace_request(spans).SerializeToString()
    assert len(body) > 16 * 1024
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    stored = client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    bundled = PriceBook().price("openai", "gpt-4o-mini")
    assert bundled is not None
    costs = {s["model"]: s["cost"] for s in stored}
    assert costs["gpt-4o-mini"] == pytest.approx(
        (12 * bundled.input_per_mtok + 3 * bundled.output_per_mtok) / 1e6
    )
    assert costs["my-finetune"] == pytest.approx((12 * 7 + 3 * 9) / 1e6)
    client.close()
