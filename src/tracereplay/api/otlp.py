"""OTLP/HTTP receivers: POST /v1/traces and POST /v1/logs (protobuf or JSON, optionally gzip).

A request is answered only after its spans are committed. Spans that cannot be stored
(bad ids, no start time) are reported through OTLP partial success; the rest are stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracereplay.api.deps import api_key_from, content_kind, read_body
from tracereplay.context import AppContext
from tracereplay.ingest.otlp import Decoded

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
OTLP_TYPES = (PROTOBUF, JSON)


def _response(decoded: Decoded, message: Any, rejected_field: str, json_mode: bool) -> Response:
    if decoded.rejected:
        setattr(message.partial_success, rejected_field, decoded.rejected)
        message.partial_success.error_message = decoded.error_message
    if json_mode:
        return Response(json_format.MessageToJson(message, indent=None), media_type=JSON)
    return Response(message.SerializeToString(), media_type=PROTOBUF)


def otlp_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["OTLP"])
    limit = ctx.settings.max_request_bytes

    @router.post(
        "/v1/traces",
        summary="OTLP/HTTP trace export",
        description="Standard OTLP/HTTP endpoint: point `OTEL_EXPORTER_OTLP_ENDPOINT` at the "
        "server root. Protobuf or JSON, gzip accepted; the API key chooses the project.",
    )
    async def export_traces(request: Request) -> Response:
        principal = ctx.keys.resolve(api_key_from(request))
        json_mode = content_kind(request, OTLP_TYPES) == JSON
        body = await read_body(request, limit)
        decoded = await ctx.ingest.store_otlp_traces(principal.project_rowid, body, json_mode)
        return _response(decoded, ExportTraceServiceResponse(), "rejected_spans", json_mode)

    @router.post(
        "/v1/logs",
        summary="OTLP/HTTP log export",
        description="Receives GenAI message events sent as logs and joins them onto their spans.",
    )
    async def export_logs(request: Request) -> Response:
        principal = ctx.keys.resolve(api_key_from(request))
        json_mode = content_kind(request, OTLP_TYPES) == JSON
        body = await read_body(request, limit)
        decoded = await ctx.ingest.store_otlp_logs(principal.project_rowid, body, json_mode)
        return _response(decoded, ExportLogsServiceResponse(), "rejected_log_records", json_mode)

    return router
