"""OTLP/HTTP and native ingestion through the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.conftest import API_KEY
from tests.otlp_builders import (
    PROTOBUF,
    T0,
    llm_attributes,
    log_record,
    logs_request,
    new_span_id,
    new_trace_id,
    span,
    trace_request,
)


def post_spans(client: TestClient, spans: list, **kwargs) -> ExportTraceServiceResponse:  # type: ignore[type-arg]
    response = client.post("/v1/traces", content=trace_request(spans).SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    return parsed


def agent_trace() -> tuple[str, list]:  # type: ignore[type-arg]
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    spans = [
        span(trace_id, root, "agent", end_ms=500, attributes={
            "openinference.span.kind": "CHAIN", "input.value": "capital of France?",
            "output.value": "Paris.", "session.id": "s-1", "user.id": "u-1",
            "tag.tags": ["prod", "geo"], "metadata": '{"tenant": "acme"}'}),
        span(trace_id, llm, "ChatCompletion", parent=root, start_ms=10, end_ms=300,
             attributes=llm_attributes()),
        span(trace_id, tool, "lookup", parent=root, start_ms=310, end_ms=450,
             attributes={"openinference.span.kind": "TOOL", "input.value": "France",
                         "output.value": "Paris"}, error="timeout talking to the atlas"),
    ]  # fmt: skip
    return trace_id, spans


def test_protobuf_spans_are_stored_with_normalised_fields_and_rollups(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    response = post_spans(client, spans)
    assert not response.HasField("partial_success")

    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    assert trace["name"] == "agent"
    assert trace["span_count"] == 3
    assert trace["llm_span_count"] == 1
    assert trace["error_count"] == 1
    assert trace["total_tokens"] == 15
    assert trace["duration_ms"] == 500.0
    assert trace["session_id"] == "s-1" and trace["user_id"] == "u-1"
    assert trace["tags"] == ["geo", "prod"]
    assert trace["metadata"] == {"tenant": "acme"}
    assert trace["input"] == "capital of France?"
    assert [node["span_id"] for node in trace["tree"]] == [spans[0].span_id.hex()]
    assert len(trace["tree"][0]["children"]) == 2

    llm = next(s for s in trace["spans"] if s["kind"] == "LLM")
    assert llm["model"] == "gpt-4o-mini"
    assert llm["invocation_parameters"] == {"temperature": 0.3}
    assert llm["input_messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert llm["output_messages"][0]["content"] == "Paris."
    assert llm["attributes"]["llm.token_count.total"] == 15
    tool = next(s for s in trace["spans"] if s["kind"] == "TOOL")
    assert tool["status_code"] == "ERROR"
    assert tool["status_message"] == "timeout talking to the atlas"

    single = client.get(f"/api/v1/traces/{trace_id}/spans/{llm['span_id']}").json()
    assert single["span_id"] == llm["span_id"]


def test_resent_spans_update_instead_of_duplicating(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    post_spans(client, spans)
    post_spans(client, spans)
    post_spans(client, spans[1:2] * 3)  # the same span three times in one request
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    assert trace["span_count"] == 3
    assert trace["total_tokens"] == 15


def test_children_before_parent_across_requests(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    post_spans(client, [spans[2]])
    post_spans(client, [spans[1]])
    partial = client.get(f"/api/v1/traces/{trace_id}").json()
    assert partial["name"] is None  # root not here yet
    assert len(partial["tree"]) == 2  # orphans shown as roots meanwhile
    post_spans(client, [spans[0]])
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    assert trace["name"] == "agent"
    assert trace["span_count"] == 3
    assert len(trace["tree"]) == 1


def test_otlp_json_and_gzip(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    body = json_format.MessageToDict(trace_request(spans))
    # OTLP/JSON carries ids as hex, not protobuf-JSON base64.
    for item in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in item:
                item[key] = base64.b64decode(item[key]).hex()
    response = client.post(
        "/v1/traces",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert client.get(f"/api/v1/traces/{trace_id}").json()["span_count"] == 3


def test_partial_success_reports_rejected_spans_and_keeps_the_rest(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    bad = span(trace_id, new_span_id(), "broken")
    bad.trace_id = b"\x01\x02"
    response = post_spans(client, [*spans, bad])
    assert response.partial_success.rejected_spans == 1
    assert "traceId must be 16" in response.partial_success.error_message
    assert client.get(f"/api/v1/traces/{trace_id}").json()["span_count"] == 3


def test_bad_requests_get_clear_errors(client: TestClient) -> None:
    body = trace_request(agent_trace()[1]).SerializeToString()
    no_key = client.post("/v1/traces", content=body, headers={**PROTOBUF, "Authorization": ""})
    assert no_key.status_code == 401
    assert "missing API key" in no_key.json()["error"]["message"]
    wrong_key = client.post("/v1/traces", content=body, headers={**PROTOBUF, "Authorization": "Bearer nope"})
    assert wrong_key.status_code == 401

    wrong_type = client.post("/v1/traces", content=body, headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert "application/x-protobuf" in wrong_type.json()["error"]["message"]

    garbage = client.post("/v1/traces", content=b"\xff\xfe not protobuf", headers=PROTOBUF)
    assert garbage.status_code == 400
    assert "not a valid OTLP protobuf" in garbage.json()["error"]["message"]

    bad_json = client.post("/v1/traces", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]["message"]

    bad_hex = client.post(
        "/v1/traces",
        json={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]},
    )
    assert bad_hex.status_code == 400
    assert "traceId" in bad_hex.json()["error"]["message"]

    bad_gzip = client.post("/v1/traces", content=b"nope", headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400


def test_oversized_bodies_are_refused_before_and_after_decompression(client: TestClient) -> None:
    limit = 20 * 1024 * 1024
    too_big = client.post("/v1/traces", content=b"\0" * (limit + 1), headers=PROTOBUF)
    assert too_big.status_code == 413
    assert "TRACEREPLAY_MAX_REQUEST_BYTES" in too_big.json()["error"]["message"]
    bomb = gzip.compress(b"\0" * (limit + 10))
    assert len(bomb) < limit
    inflated = client.post("/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert inflated.status_code == 413


def test_log_events_join_their_span_whichever_arrives_first(client: TestClient) -> None:
    # opentelemetry-instrumentation-openai-v2 sends message content as log events.
    genai = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 2}  # fmt: skip
    for logs_first in (True, False):
        trace_id, span_id = new_trace_id(), new_span_id()
        logs = logs_request(
            [
                log_record(trace_id, span_id, "gen_ai.user.message", {"content": "Hi there"}, 1),
                log_record(trace_id, span_id, "gen_ai.choice",
                           {"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "Hello!"}}, 2),
            ]
        )  # fmt: skip
        logs_body = logs.SerializeToString()
        chat = span(trace_id, span_id, "chat gpt-4o", attributes=genai)
        if logs_first:
            assert client.post("/v1/logs", content=logs_body, headers=PROTOBUF).status_code == 200
            post_spans(client, [chat])
        else:
            post_spans(client, [chat])
            assert client.post("/v1/logs", content=logs_body, headers=PROTOBUF).status_code == 200
        stored = client.get(f"/api/v1/traces/{trace_id}/spans/{span_id}").json()
        assert stored["kind"] == "LLM"
        assert stored["model"] == "gpt-4o"
        assert stored["input_messages"] == [{"role": "user", "content": "Hi there"}], logs_first
        assert stored["output_messages"][0]["content"] == "Hello!"
        # Re-sent logs are not stored twice.
        assert client.post("/v1/logs", content=logs_body, headers=PROTOBUF).status_code == 200
        again = client.get(f"/api/v1/traces/{trace_id}/spans/{span_id}").json()
        assert again["input_messages"] == stored["input_messages"]


def test_native_json_span_batch(client: TestClient) -> None:
    trace_id, root, llm = new_trace_id(), new_span_id(), new_span_id()
    start = "2025-10-09T08:53:20Z"
    response = client.post(
        "/api/v1/spans",
        json={
            "spans": [
                {"trace_id": trace_id, "span_id": root, "name": "pipeline", "kind": "CHAIN",
                 "start_time": start, "end_time": "2025-10-09T08:53:21Z", "tags": ["batch"]},
                {"trace_id": trace_id, "span_id": llm, "parent_span_id": root, "name": "answer",
                 "kind": "LLM", "start_time": start, "end_time": "2025-10-09T08:53:20.500Z",
                 "model": "claude-3-5-haiku", "provider": "anthropic",
                 "input_messages": [{"role": "user", "content": "hi"}],
                 "output_messages": [{"role": "assistant", "content": "hello"}],
                 "prompt_tokens": 5, "completion_tokens": 1},
            ]
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2}
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    assert trace["duration_ms"] == 1000.0
    assert trace["tags"] == ["batch"]
    llm_span = next(s for s in trace["spans"] if s["span_id"] == llm)
    assert llm_span["model"] == "claude-3-5-haiku"
    assert llm_span["input_messages"] == [{"role": "user", "content": "hi"}]

    invalid = client.post("/api/v1/spans", json={"spans": [{"trace_id": "xyz", "name": "n"}]})
    assert invalid.status_code == 422
    assert "trace_id" in invalid.json()["error"]["message"]


def test_times_without_offset_are_utc_and_resource_values_of_any_type(client: TestClient) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    response = client.post(
        "/api/v1/spans",
        json={"spans": [{"trace_id": trace_id, "span_id": root, "name": "naive", "service_name": "svc",
                         "start_time": "2025-10-09T08:53:20", "end_time": "2025-10-09T10:53:21+02:00"}]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    assert trace["start_time"].replace("Z", "+00:00") == "2025-10-09T08:53:20+00:00"
    assert trace["duration_ms"] == 1000.0

    # An integer service.name (any AnyValue is allowed in a resource) is stored as text.
    other_id = new_trace_id()
    body = trace_request([span(other_id, new_span_id(), "numbered")], resource={"service.name": 42})
    assert client.post("/v1/traces", content=body.SerializeToString(), headers=PROTOBUF).status_code == 200
    assert client.get(f"/api/v1/traces/{other_id}").json()["spans"][0]["service_name"] == "42"


def test_start_times_are_exact(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    post_spans(client, spans)
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    expected = datetime.fromtimestamp(T0 / 1e9, tz=UTC)
    assert trace["start_time"].replace("Z", "+00:00") == expected.isoformat()


def test_x_api_key_header_and_stored_attributes(client: TestClient) -> None:
    trace_id, spans = agent_trace()
    body = trace_request(spans).SerializeToString()
    response = client.post(
        "/v1/traces", content=body, headers={**PROTOBUF, "Authorization": "", "x-api-key": API_KEY}
    )
    assert response.status_code == 200, response.text
    llm = next(s for s in client.get(f"/api/v1/traces/{trace_id}").json()["spans"] if s["kind"] == "LLM")
    # Message keys read into input/output messages are not stored twice; the rest stays raw.
    assert not any(
        key.startswith(("llm.input_messages.", "llm.output_messages.")) for key in llm["attributes"]
    )
    assert llm["attributes"]["llm.model_name"] == "gpt-4o-mini"
    assert llm["attributes"]["llm.invocation_parameters"] == '{"temperature": 0.3}'
    assert llm["input_messages"] == [{"role": "user", "content": "What is the capital of France?"}]
