"""Pydantic shapes of the REST API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracereplay.db.models import Span, Trace

HexTraceId = Field(pattern=r"^[0-9a-fA-F]{32}$", description="32 hex characters")
HexSpanId = Field(pattern=r"^[0-9a-fA-F]{16}$", description="16 hex characters")


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | None = None
    parts: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class SpanOut(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status_code: str
    status_message: str | None
    service_name: str | None
    provider: str | None
    model: str | None
    invocation_parameters: dict[str, Any] | None
    input_messages: list[dict[str, Any]] | None
    output_messages: list[dict[str, Any]] | None
    tools: list[dict[str, Any]] | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: float | None
    prompt_template: dict[str, Any] | None
    input: str | None
    output: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]] | None

    @classmethod
    def of(cls, span: Span) -> SpanOut:
        return cls.model_validate(span, from_attributes=True)


class TraceSummary(BaseModel):
    trace_id: str
    name: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_ms: float | None
    session_id: str | None
    user_id: str | None
    environment: str | None
    tags: list[str]
    metadata: dict[str, Any] | None
    input: str | None
    output: str | None
    span_count: int
    llm_span_count: int
    error_count: int
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: float | None
    source_trace_id: str | None = Field(description="For a replayed trace: the trace it replays.")
    replay_id: str | None = Field(description="For a replayed trace: the replay that wrote it.")

    @classmethod
    def of(cls, trace: Trace, tags: list[str]) -> TraceSummary:
        return cls(
            trace_id=trace.trace_id,
            name=trace.name,
            start_time=trace.start_time,
            end_time=trace.end_time,
            duration_ms=trace.duration_ms,
            session_id=trace.session_id,
            user_id=trace.user_id,
            environment=trace.environment,
            tags=tags,
            metadata=trace.trace_metadata,
            input=trace.input,
            output=trace.output,
            span_count=trace.span_count,
            llm_span_count=trace.llm_span_count,
            error_count=trace.error_count,
            prompt_tokens=trace.prompt_tokens,
            completion_tokens=trace.completion_tokens,
            total_tokens=trace.total_tokens,
            cost=trace.cost,
            source_trace_id=trace.source_trace_id,
            replay_id=trace.replay_id,
        )


class TraceList(BaseModel):
    traces: list[TraceSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null at the end.")


class SpanNode(BaseModel):
    span_id: str
    children: list[SpanNode]


class TraceDetailOut(TraceSummary):
    spans: list[SpanOut] = Field(description="Every span, ordered by start time.")
    tree: list[SpanNode] = Field(description="The parent/child structure of `spans`.")
    replays: list[str] = Field(description="Ids of this trace's replays, newest first.")


class SpanIn(BaseModel):
    """A span in tracereplay's own JSON shape, for apps that do not use OpenTelemetry.

    `attributes` may carry any OTel convention (they are mapped like OTLP spans); the
    explicit fields, when given, win over what the attributes say.
    """

    model_config = ConfigDict(extra="forbid")

    trace_id: str = HexTraceId
    span_id: str = HexSpanId
    parent_span_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{16}$")
    name: str = Field(min_length=1, max_length=500)
    kind: Literal[
        "LLM", "CHAIN", "TOOL", "AGENT", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL",
        "EVALUATOR", "PROMPT", "UNKNOWN",
    ] | None = None  # fmt: skip
    start_time: datetime
    end_time: datetime | None = None
    status: Literal["UNSET", "OK", "ERROR"] = "UNSET"
    status_message: str | None = None
    service_name: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    invocation_parameters: dict[str, Any] | None = None
    input_messages: list[Message] | None = None
    output_messages: list[Message] | None = None
    tools: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    prompt_template: dict[str, Any] | None = None
    input: str | None = None
    output: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    environment: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


class SpanBatchIn(BaseModel):
    spans: list[SpanIn] = Field(min_length=1)


class IngestResult(BaseModel):
    accepted: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready"]
    database: str
