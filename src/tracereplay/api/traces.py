"""REST API: native span ingestion, trace list/detail, single span, health and readiness."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tracereplay import __version__
from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import (
    Health,
    IngestResult,
    Readiness,
    ScoreIn,
    ScoreList,
    ScoreOut,
    SpanBatchIn,
    SpanNode,
    SpanOut,
    TraceDetailOut,
    TraceList,
    TraceSummary,
)
from tracereplay.context import AppContext
from tracereplay.db.engine import check_database
from tracereplay.ingest.native import spans_from_batch
from tracereplay.projects.service import Principal
from tracereplay.traces.queries import SortField, TraceFilter, get_span, get_trace, list_traces
from tracereplay.traces.scores import add_score, trace_scores


def traces_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]
    retention = ctx.settings.retention_days

    @router.get("/health", tags=["health"], summary="Liveness: the process answers")
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @router.get("/ready", tags=["health"], summary="Readiness: the database answers")
    def ready() -> Readiness:
        return Readiness(status="ready", database=check_database(ctx.engine))

    @router.post(
        "/spans",
        tags=["ingestion"],
        summary="Ingest spans in tracereplay's JSON format",
        description="For apps without OpenTelemetry. Answered after the spans are committed; "
        "re-sent spans (same trace_id + span_id) replace the earlier copy.",
    )
    async def ingest_spans(batch: SpanBatchIn, principal: Auth) -> IngestResult:
        spans = spans_from_batch(span.model_dump(exclude_none=True) for span in batch.spans)
        return IngestResult(accepted=await ctx.ingest.store_spans_async(principal.project_rowid, spans))

    @router.get("/traces", tags=["traces"], summary="List traces, newest first by default")
    def traces(
        principal: Auth,
        start_after: Annotated[datetime | None, Query(description="Traces starting at or after")] = None,
        start_before: Annotated[datetime | None, Query(description="Traces starting before")] = None,
        name: Annotated[str | None, Query(description="Root span name, exact")] = None,
        tag: str | None = None,
        model: Annotated[str | None, Query(description="Has an LLM span with this model")] = None,
        has_error: Annotated[bool | None, Query(description="Has at least one ERROR span")] = None,
        environment: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        q: Annotated[str | None, Query(description="Free text in inputs and outputs")] = None,
        sort: SortField = "start_time",
        order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> TraceList:
        filters = TraceFilter(
            start_after, start_before, name, tag, model, has_error, environment, session_id, user_id, q
        )
        page = list_traces(
            ctx.sessions,
            principal.project_rowid,
            filters,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            cursor=cursor,
            retention_days=retention,
        )
        return TraceList(
            traces=[TraceSummary.of(trace) for trace in page.traces], next_cursor=page.next_cursor
        )

    @router.get("/traces/{trace_id}", tags=["traces"], summary="One trace with its spans and span tree")
    def trace(trace_id: str, principal: Auth) -> TraceDetailOut:
        detail = get_trace(ctx.sessions, principal.project_rowid, trace_id, retention)
        return TraceDetailOut(
            **TraceSummary.of(detail.trace).model_dump(exclude={"scores"}),
            spans=[SpanOut.of(span, detail.prompt_links.get(span.span_id)) for span in detail.spans],
            tree=[SpanNode.model_validate(node) for node in detail.tree],
            replays=detail.replay_ids,
            scores=[ScoreOut.model_validate(score, from_attributes=True) for score in detail.scores],
        )

    @router.get("/traces/{trace_id}/scores", tags=["scores"], summary="A trace's scores")
    def trace_scores_route(trace_id: str, principal: Auth) -> ScoreList:
        found = trace_scores(ctx.sessions, principal.project_rowid, trace_id, retention)
        return ScoreList(scores=[ScoreOut.model_validate(score, from_attributes=True) for score in found])

    @router.post(
        "/scores",
        tags=["scores"],
        status_code=201,
        summary="Score a trace (or one of its spans) from outside: an app's check, a person",
    )
    def post_score(body: ScoreIn, principal: Auth) -> ScoreOut:
        score = add_score(
            ctx.sessions, principal.project_rowid, body.trace_id, body.name, value=body.value,
            reasoning=body.reasoning, source=body.source, span_id=body.span_id, retention_days=retention,
        )  # fmt: skip
        return ScoreOut.model_validate(score, from_attributes=True)

    @router.get("/traces/{trace_id}/spans/{span_id}", tags=["traces"], summary="One span")
    def span(trace_id: str, span_id: str, principal: Auth) -> SpanOut:
        return SpanOut.of(*get_span(ctx.sessions, principal.project_rowid, trace_id, span_id, retention))

    return router
