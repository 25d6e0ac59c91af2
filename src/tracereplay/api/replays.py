"""REST API for replays: request one, follow it, list a trace's history, cancel; the model catalog."""

from typing import Annotated

from fastapi import APIRouter, Depends

from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import ModelList, ModelOut, ReplayIn, ReplayList, ReplayOut
from tracereplay.context import AppContext
from tracereplay.projects.service import Principal
from tracereplay.providers.catalog import model_catalog
from tracereplay.replay.service import ReplayRequest, cancel_replay, create_replay, get_replay, list_replays


def replays_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["replays"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]
    retention = ctx.settings.retention_days

    @router.get("/models", summary="Models a replay can use now, with their prices")
    def models(principal: Auth) -> ModelList:
        catalog = model_catalog(ctx.providers, ctx.prices.book(principal.project_rowid))
        return ModelList(models=[ModelOut.of(entry) for entry in catalog])

    @router.post(
        "/traces/{trace_id}/replays",
        status_code=202,
        summary="Replay a trace",
        description="Validates everything (trace, models, provider keys, parameters) before "
        "enqueueing; answers 202 with the PENDING replay.",
    )
    def request_replay(trace_id: str, body: ReplayIn, principal: Auth) -> ReplayOut:
        request = ReplayRequest(
            body.model,
            body.prompt_template_version_id,
            body.model_parameters,
            body.span_ids,
            strict=body.fidelity == "strict",
            reconstruct_tools=body.reconstruct_tools,
        )
        replay = create_replay(
            ctx.sessions,
            ctx.providers,
            principal.project_rowid,
            trace_id,
            request,
            retention_days=retention,
            enqueue=ctx.queue.enqueue_replay,
        )
        return ReplayOut.of(replay)

    @router.get("/replays/{replay_id}", summary="One replay: status, progress, result")
    def replay(replay_id: str, principal: Auth) -> ReplayOut:
        return ReplayOut.of(get_replay(ctx.sessions, principal.project_rowid, replay_id))

    @router.get("/traces/{trace_id}/replays", summary="A trace's replays, newest first")
    def history(trace_id: str, principal: Auth) -> ReplayList:
        replays = list_replays(ctx.sessions, principal.project_rowid, trace_id, retention)
        return ReplayList(replays=[ReplayOut.of(replay) for replay in replays])

    @router.post("/replays/{replay_id}/cancel", summary="Cancel a PENDING or RUNNING replay")
    def cancel(replay_id: str, principal: Auth) -> ReplayOut:
        return ReplayOut.of(cancel_replay(ctx.sessions, principal.project_rowid, replay_id))

    return router
