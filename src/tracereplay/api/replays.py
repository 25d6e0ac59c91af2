"""REST API for replays: request one, follow it, list a trace's history, cancel."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracereplay.api.deps import principal_dependency
from tracereplay.context import AppContext
from tracereplay.db.models import Replay, Trace
from tracereplay.projects.service import Principal
from tracereplay.providers.catalog import model_catalog
from tracereplay.replay.service import ReplayRequest, cancel_replay, create_replay, get_replay, list_replays


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


class TraceTotals(BaseModel):
    trace_id: str
    duration_ms: float | None
    total_tokens: int | None
    cost: float | None
    error_count: int


class ReplayOut(BaseModel):
    replay_id: str
    trace_id: str = Field(description="The trace that was replayed.")
    status: str
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
    original: TraceTotals | None = None
    result: TraceTotals | None = None


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


class ModelList(BaseModel):
    models: list[ModelOut]


def _totals(trace: Trace | None) -> TraceTotals | None:
    if trace is None:
        return None
    return TraceTotals(
        trace_id=trace.trace_id,
        duration_ms=trace.duration_ms,
        total_tokens=trace.total_tokens,
        cost=trace.cost,
        error_count=trace.error_count,
    )


def replay_out(session: Session, replay: Replay, source: Trace) -> ReplayOut:
    result = None
    if replay.result_trace_id:
        result = session.scalar(
            select(Trace).where(
                Trace.project_rowid == replay.project_rowid, Trace.trace_id == replay.result_trace_id
            )
        )
    return ReplayOut(
        replay_id=replay.replay_id,
        trace_id=source.trace_id,
        status=replay.status,
        overrides=replay.overrides,
        progress=f"{replay.llm_spans_done}/{replay.llm_spans_total} LLM spans",
        llm_spans_total=replay.llm_spans_total,
        llm_spans_done=replay.llm_spans_done,
        llm_spans_failed=replay.llm_spans_failed,
        error=replay.error,
        result_trace_id=replay.result_trace_id,
        created_at=replay.created_at,
        started_at=replay.started_at,
        finished_at=replay.finished_at,
        original=_totals(source),
        result=_totals(result),
    )


def replays_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["replays"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]
    retention = ctx.settings.retention_days

    @router.get("/models", summary="Models a replay can use now, with their prices")
    def models(principal: Auth) -> ModelList:
        return ModelList(
            models=[
                ModelOut(
                    model=entry.reference,
                    provider=entry.provider,
                    name=entry.model,
                    input_price_per_mtok=entry.input_per_mtok,
                    output_price_per_mtok=entry.output_per_mtok,
                    price_source=entry.price_source,
                )
                for entry in model_catalog(ctx.providers, ctx.prices.book(principal.project_rowid))
            ]
        )

    @router.post(
        "/traces/{trace_id}/replays",
        status_code=202,
        summary="Replay a trace",
        description="Validates everything (trace, models, provider keys, parameters) before "
        "enqueueing; answers 202 with the PENDING replay.",
    )
    def request_replay(trace_id: str, body: ReplayIn, principal: Auth) -> ReplayOut:
        request = ReplayRequest(body.model, body.prompt_template_version_id, body.model_parameters)
        replay = create_replay(
            ctx.sessions,
            ctx.providers,
            principal.project_rowid,
            trace_id,
            request,
            retention_days=retention,
            enqueue=ctx.queue.enqueue_replay,
        )
        with ctx.sessions() as session:
            replay, source = get_replay(session, principal.project_rowid, replay.replay_id)
            return replay_out(session, replay, source)

    @router.get("/replays/{replay_id}", summary="One replay: status, progress, result")
    def replay(replay_id: str, principal: Auth) -> ReplayOut:
        with ctx.sessions() as session:
            found, source = get_replay(session, principal.project_rowid, replay_id)
            return replay_out(session, found, source)

    @router.get("/traces/{trace_id}/replays", summary="A trace's replays, newest first")
    def history(trace_id: str, principal: Auth) -> ReplayList:
        with ctx.sessions() as session:
            source, replays = list_replays(session, principal.project_rowid, trace_id, retention)
            return ReplayList(replays=[replay_out(session, replay, source) for replay in replays])

    @router.post("/replays/{replay_id}/cancel", summary="Cancel a PENDING or RUNNING replay")
    def cancel(replay_id: str, principal: Auth) -> ReplayOut:
        cancel_replay(ctx.sessions, principal.project_rowid, replay_id)
        with ctx.sessions() as session:
            found, source = get_replay(session, principal.project_rowid, replay_id)
            return replay_out(session, found, source)

    return router
