"""Pydantic shapes of the REST API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracereplay.ingest.records import SpanRecord
from tracereplay.pricing.overrides import MAX_PATTERN_LENGTH, MAX_PRICE_PER_MTOK, PriceOverride
from tracereplay.prompts.service import PromptLink, PromptVersionView
from tracereplay.providers.catalog import CatalogEntry
from tracereplay.replay.lifecycle import ReplayStatus
from tracereplay.replay.service import ReplayView
from tracereplay.traces.queries import TraceView

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


class PromptLinkOut(BaseModel):
    """The prompt version a span was rendered from, as far as this project's prompts know it."""

    name: str | None
    version: int | str | None
    version_id: str | None = Field(description="The stored version, when linked")
    linked: bool
    reason: str | None = Field(description='Why the span is "unlinked", when it is')


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
    same_call_as: str | None = Field(
        default=None,
        description="Another LLM span of the trace that records the same call (an SDK's own telemetry "
        "beside an instrumentation library's span); the call is counted and replayed through that one",
    )

    prompt: PromptLinkOut | None = Field(
        default=None, description="What `prompt_template`'s link resolves to; null when the span records none"
    )

    @classmethod
    def of(cls, span: SpanRecord, link: PromptLink | None = None) -> SpanOut:
        out = cls.model_validate(span, from_attributes=True)
        if link is not None:
            out.prompt = PromptLinkOut.model_validate(link, from_attributes=True)
        return out


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
    scores: list[ScoreOut] = Field(default_factory=list, description="The newest score of each name.")
    models: list[str] = Field(default_factory=list, description="The models of its LLM spans.")

    @classmethod
    def of(cls, trace: TraceView) -> TraceSummary:
        return cls.model_validate(trace, from_attributes=True)


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
    scores: list[ScoreOut] = Field(description="Every evaluator, API and human score of this trace.")


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


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str | None = Field(
        default=None,
        description="Replaces the model of every LLM span: `provider:model`, or a bare name "
        "resolved through the model catalog. Absent: each span keeps its model.",
    )
    prompt_template_version_id: str | None = Field(default=None, alias="promptTemplateVersionId")
    model_parameters: dict[str, Any] | None = Field(
        default=None,
        alias="modelParameters",
        description="Merged over each span's invocation parameters; null removes one.",
    )
    span_ids: list[str] | None = Field(
        default=None,
        alias="spanIds",
        min_length=1,
        description="Re-run only these LLM spans (ids); every other span, LLM or not, is copied "
        "as recorded. Absent: every LLM span.",
    )
    reconstruct_tools: bool = Field(
        default=False,
        alias="reconstructTools",
        description="Where an LLM span holds tool calls but no tool definitions were recorded, send "
        "definitions rebuilt from the calls (names and argument shapes; the verdict says so).",
    )
    fidelity: Literal["best_effort", "strict"] = Field(
        default="best_effort",
        description="`strict` refuses (422, the spans and fields named) a trace whose LLM spans "
        "did not record their whole request; `best_effort` replays what was recorded.",
    )


class TraceTotalsOut(BaseModel):
    trace_id: str
    duration_ms: float | None
    total_tokens: int | None
    cost: float | None
    error_count: int


class ReplayOut(BaseModel):
    replay_id: str
    trace_id: str = Field(description="The trace that was replayed.")
    status: ReplayStatus
    overrides: dict[str, Any]
    progress: str = Field(description='"3/7 LLM spans"')
    llm_spans_total: int
    llm_spans_done: int
    llm_spans_failed: int
    error: str | None
    result_trace_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    original: TraceTotalsOut | None = None
    result: TraceTotalsOut | None = None
    evaluations: Literal["pending", "done"] | None = Field(
        default=None, description='A completed replay: "pending" until the enabled evaluators have scored it'
    )
    scores: list[ScoreOut] = Field(default_factory=list, description="The replayed trace's scores")
    original_scores: list[ScoreOut] = Field(default_factory=list, description="The original trace's scores")

    @classmethod
    def of(cls, replay: ReplayView) -> ReplayOut:
        return cls.model_validate(replay, from_attributes=True)


class ReplayList(BaseModel):
    replays: list[ReplayOut]


class ModelOut(BaseModel):
    model: str = Field(description="`provider:model`, as a replay's `model` override takes it")
    provider: str
    name: str
    input_price_per_mtok: float | None = Field(description="US $ per million input tokens; null: unknown")
    output_price_per_mtok: float | None
    price_source: str | None = Field(
        description='"project override", "server override", "genai-prices" or "local"; null: unknown'
    )

    @classmethod
    def of(cls, entry: CatalogEntry) -> ModelOut:
        return cls(
            model=entry.reference,
            provider=entry.provider,
            name=entry.model,
            input_price_per_mtok=entry.input_per_mtok,
            output_price_per_mtok=entry.output_per_mtok,
            price_source=entry.price_source,
        )


class ModelList(BaseModel):
    models: list[ModelOut]


class PriceIn(BaseModel):
    model_pattern: str = Field(
        min_length=1,
        max_length=MAX_PATTERN_LENGTH,
        description='A model name ("gpt-4o-mini"), provider:model ("openai:gpt-4o-mini") or a '
        'shell-style pattern ("gpt-4o*", "*:llama-3*")',
        examples=["gpt-4o*"],
    )
    input_price_per_mtok: float = Field(
        ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False, description="US $ per million input tokens"
    )
    output_price_per_mtok: float = Field(
        ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False, description="US $ per million output tokens"
    )


class PriceOut(BaseModel):
    id: int
    model_pattern: str
    input_price_per_mtok: float
    output_price_per_mtok: float
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, override: PriceOverride) -> PriceOut:
        return cls(
            id=override.id,
            model_pattern=override.model_pattern,
            input_price_per_mtok=override.input_per_mtok,
            output_price_per_mtok=override.output_per_mtok,
            created_at=override.created_at,
            updated_at=override.updated_at,
        )


class PriceList(BaseModel):
    prices: list[PriceOut]


class PromptIn(BaseModel):
    """A new version of a prompt (version 1 creates the prompt)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["support-agent"])
    type: Literal["text", "chat"] = "text"
    prompt: str | list[dict[str, Any]] = Field(
        description='text: a string with {{variables}}; chat: messages {"role", "content"} and '
        'placeholders {"type": "placeholder", "name"} (a variable holding a list of messages)',
        examples=[[{"role": "system", "content": "You help {{customer}}."},
                   {"type": "placeholder", "name": "history"}]],
    )  # fmt: skip
    config: dict[str, Any] | None = Field(
        default=None, description='Versioned with the text, e.g. {"model": "gpt-4o-mini", "temperature": 0.2}'
    )
    commit_message: str | None = Field(default=None, max_length=2000)
    labels: list[str] = Field(
        default_factory=list, description='Labels moved to this version, e.g. ["production"]'
    )


class PromptVersionOut(BaseModel):
    version_id: str = Field(description="What a replay's `promptTemplateVersionId` names")
    name: str
    version: int
    type: Literal["text", "chat"]
    prompt: str | list[dict[str, Any]]
    config: dict[str, Any] | None
    commit_message: str | None
    labels: list[str]
    variables: list[str] = Field(description="Text variables the version needs")
    placeholders: list[str] = Field(description="Variables that must hold a list of messages")
    created_at: datetime

    @classmethod
    def of(cls, version: PromptVersionView) -> PromptVersionOut:
        needed = version.variables
        return cls(
            version_id=version.version_id,
            name=version.name,
            version=version.version,
            type=version.type,
            prompt=version.prompt,
            config=version.config,
            commit_message=version.commit_message,
            labels=version.labels,
            variables=needed.text,
            placeholders=needed.placeholders,
            created_at=version.created_at,
        )


class PromptVersionList(BaseModel):
    versions: list[PromptVersionOut]


class PromptSummaryOut(BaseModel):
    name: str
    type: Literal["text", "chat"]
    latest_version: int
    labels: dict[str, int] = Field(description="label -> version, `latest` included")
    created_at: datetime
    updated_at: datetime


class PromptList(BaseModel):
    prompts: list[PromptSummaryOut]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=100, examples=["production"])
    version: int = Field(ge=1, le=2**31 - 1)


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)


class RenderOut(BaseModel):
    version_id: str
    name: str
    version: int
    type: Literal["text", "chat"]
    prompt: str | list[dict[str, Any]] = Field(description="The rendered text, or the rendered messages")


class PromptDiffOut(BaseModel):
    name: str
    base: int
    target: int
    body: list[str] = Field(description="Unified diff of the two bodies (a chat message starts with [role])")
    config: dict[str, Any] = Field(description="Config keys added, removed and changed")


class PromptImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: str = HexTraceId
    span_id: str = HexSpanId
    name: str = Field(min_length=1, max_length=200, description="The prompt to add the template to")


class EvaluatorIn(BaseModel):
    """A new evaluator."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["answer-similar"])
    type: str = Field(description="An evaluator type (GET /api/v1/evaluator-types)", examples=["similarity"])
    config: dict[str, Any] = Field(default_factory=dict, examples=[{"method": "token_sort_ratio"}])
    enabled: bool = True
    target: Literal["replays", "all"] = Field(
        default="replays", description='"replays": replayed traces and their originals; "all": new traces'
    )
    sampling_rate: float = Field(
        default=1.0, description="Fraction of traces scored (same traces for every evaluator)"
    )
    filter: dict[str, Any] | None = Field(
        default=None,
        description='Only traces matching {"name", "tags", "environment"}',
        examples=[{"tags": ["prod"]}],
    )


class EvaluatorPatch(BaseModel):
    """What to change; a different config becomes a new configuration version."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = None
    enabled: bool | None = None
    target: Literal["replays", "all"] | None = None
    sampling_rate: float | None = None
    filter: dict[str, Any] | None = None


class EvaluatorOut(BaseModel):
    name: str
    type: str
    config: dict[str, Any]
    config_version: int = Field(description="Each configuration change makes a new version")
    enabled: bool
    target: Literal["replays", "all"]
    sampling_rate: float
    filter: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class EvaluatorList(BaseModel):
    evaluators: list[EvaluatorOut]


class EvaluatorConfigOut(BaseModel):
    version: int
    config: dict[str, Any]
    created_at: datetime


class EvaluatorConfigList(BaseModel):
    versions: list[EvaluatorConfigOut]


class EvaluatorTypeOut(BaseModel):
    name: str
    description: str
    needs_original: bool = Field(description="Compares a replayed trace with its original")


class EvaluatorTypeList(BaseModel):
    types: list[EvaluatorTypeOut]


class ScoreOut(BaseModel):
    name: str
    data_type: Literal["numeric", "boolean", "categorical"]
    status: Literal["scored", "error"] = Field(
        description='"error": the evaluator could not judge (no value)'
    )
    value: float | None = Field(description="A number; a boolean is 1 or 0")
    label: str | None = Field(description="A categorical value")
    source: Literal["evaluator", "api", "human"]
    config_version: int | None = Field(description="The evaluator's configuration version that gave it")
    reasoning: str | None
    details: dict[str, Any] | None
    error: str | None
    span_id: str | None
    created_at: datetime


class ScoreList(BaseModel):
    scores: list[ScoreOut]


class ScoreIn(BaseModel):
    """A score from outside tracereplay: an app's own check, or a person's judgement."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = HexTraceId
    name: str = Field(min_length=1, max_length=200, examples=["user-feedback"])
    value: bool | float | str = Field(
        description="A number, true/false, or a label", examples=[0.8, True, "good"]
    )
    reasoning: str | None = Field(default=None, max_length=10_000)
    source: Literal["api", "human"] = "api"
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{16}$")


class EvaluationIn(BaseModel):
    """Traces to evaluate now: by id, or every trace a filter of the trace list matches."""

    model_config = ConfigDict(extra="forbid")

    trace_ids: list[str] | None = Field(default=None, max_length=10_000)
    filter: dict[str, Any] | None = Field(
        default=None,
        description="The trace list's filters: name, tag, model, environment, session_id, user_id, "
        "has_error, start_after, start_before, search",
        examples=[{"tag": "prod", "start_after": "2026-11-01T00:00:00Z"}],
    )
    evaluators: list[str] = Field(
        default_factory=list, description="Evaluator names; none: every enabled one"
    )


class EvaluationQueued(BaseModel):
    queued: int = Field(description="Traces queued for evaluation; their scores appear as the jobs run")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: str = HexTraceId


class PreviewOut(BaseModel):
    """What the evaluator says of the trace; nothing is stored (a judge's own call is)."""

    status: Literal["scored", "error"]
    data_type: Literal["numeric", "boolean", "categorical"] | None
    value: float | None
    label: str | None
    reasoning: str | None
    details: dict[str, Any] | None
    error: str | None


class DeltaOut(BaseModel):
    metric: str
    base: float | None
    target: float | None
    absolute: float | None = Field(description="target - base; null when either is unknown")
    relative: float | None = Field(description="absolute / base; null when base is 0 or unknown")
    trend: Literal["up", "down", "same", "unknown"]
    verdict: Literal["better", "worse", "same", "changed", "unknown"]
    better: Literal["lower", "higher", "neither"] = Field(description="Which way is an improvement")


class ComparisonOut(BaseModel):
    """What changed from `base` to `target`, and whether it is better (docs/compare.md)."""

    base: dict[str, Any]
    target: dict[str, Any]
    replay_id: str | None = Field(description="When target is a replay of base: the replay")
    summary: list[DeltaOut]
    spans: dict[str, Any] = Field(
        description="Aligned pairs with their deltas and diffs; added and removed spans"
    )
    output: dict[str, Any] | None = Field(description="The final outputs' difference (text or JSON)")
    scores: list[dict[str, Any]] = Field(
        description="Every score name of either side, with delta and verdict"
    )


class SpanPairOut(BaseModel):
    """One aligned pair of spans with its diffs in full (docs/compare.md)."""

    base: dict[str, Any] = Field(description="span_id, name, kind")
    target: dict[str, Any] = Field(description="span_id, name, kind")
    deltas: list[DeltaOut]
    model: dict[str, Any] | None = Field(None, description="LLM pairs: base, target, changed")
    parameters: dict[str, Any] | None = Field(None, description="LLM pairs: a JSON diff")
    prompt_version: dict[str, Any] | None = Field(None, description="LLM pairs: base, target, changed")
    input: dict[str, Any] | None = Field(None, description="LLM pairs: the input messages' JSON diff")
    tool_calls: dict[str, Any] | None = Field(None, description="LLM pairs: added, removed, changed")
    fidelity: dict[str, Any] | None = Field(None, description="A replayed call: its fidelity verdict")
    output: dict[str, Any] | None = Field(
        description="Word segments with a similarity, or a JSON diff; null when a side has none"
    )
