"""REST API for comparisons: any two traces, or a replay against its original."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import ComparisonOut, SpanPairOut
from tracereplay.compare.service import compare_replay, compare_spans, compare_traces
from tracereplay.context import AppContext
from tracereplay.projects.service import Principal


def compare_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["compare"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]
    retention = ctx.settings.retention_days

    @router.get("/compare", summary="Compare two traces of this project")
    def compare(
        principal: Auth,
        base: Annotated[str, Query(description="The trace compared from")],
        target: Annotated[str, Query(description="The trace compared to")],
    ) -> ComparisonOut:
        return ComparisonOut.model_validate(
            compare_traces(ctx.sessions, principal.project_rowid, base, target, retention)
        )

    @router.get("/compare/spans", summary="One aligned pair of spans, with its diffs in full")
    def compare_pair(
        principal: Auth,
        base: Annotated[str, Query(description="The base span's trace")],
        base_span: Annotated[str, Query(description="The base span")],
        target: Annotated[str, Query(description="The target span's trace")],
        target_span: Annotated[str, Query(description="The target span")],
    ) -> SpanPairOut:
        return SpanPairOut.model_validate(
            compare_spans(ctx.sessions, principal.project_rowid, (base, base_span), (target, target_span),
                          retention)
        )  # fmt: skip

    @router.get("/replays/{replay_id}/comparison", summary="A replay against its original")
    def replay_comparison(replay_id: str, principal: Auth) -> ComparisonOut:
        return ComparisonOut.model_validate(
            compare_replay(ctx.sessions, principal.project_rowid, replay_id, retention)
        )

    return router
