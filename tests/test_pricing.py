"""Cost of LLM spans at ingestion: bundled genai-prices data, user overrides, unknown models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH
from tests.otlp_builders import llm_attributes, new_span_id, new_trace_id, span, trace_request
from tracereplay.api.app import create_app
from tracereplay.config import Settings
from tracereplay.context import AppContext
from tracereplay.providers.pricing import PriceBook

PROTOBUF = {"Content-Type": "application/x-protobuf"}


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
