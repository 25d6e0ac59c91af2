"""REST API for evaluators (`/api/v1/evaluators`) and the types they can be
(`/api/v1/evaluator-types`)."""

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import TypeAdapter, ValidationError

from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import (
    EvaluationIn,
    EvaluationQueued,
    EvaluatorConfigList,
    EvaluatorConfigOut,
    EvaluatorIn,
    EvaluatorList,
    EvaluatorOut,
    EvaluatorPatch,
    EvaluatorTypeList,
    EvaluatorTypeOut,
    PreviewIn,
    PreviewOut,
)
from tracereplay.context import AppContext
from tracereplay.errors import Unprocessable
from tracereplay.evals import service as evaluators
from tracereplay.evals.pipeline import EvalServices, preview
from tracereplay.evals.traffic import request_evaluation, traces_matching
from tracereplay.projects.service import Principal
from tracereplay.traces.queries import TraceFilter


def evaluators_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["evaluators"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]

    @router.get("/evaluator-types", summary="The evaluator types, with what each checks")
    def types(principal: Auth) -> EvaluatorTypeList:
        del principal
        return EvaluatorTypeList(
            types=[
                EvaluatorTypeOut(name=t.name, description=t.description, needs_original=t.needs_original)
                for t in sorted(evaluators.evaluator_types().values(), key=lambda t: t.name)
            ]
        )

    @router.get("/evaluators", summary="This project's evaluators")
    def list_evaluators(principal: Auth) -> EvaluatorList:
        found = evaluators.list_evaluators(ctx.sessions, principal.project_rowid)
        return EvaluatorList(evaluators=[EvaluatorOut.model_validate(e, from_attributes=True) for e in found])

    @router.post(
        "/evaluators",
        status_code=201,
        summary="Create an evaluator",
        description="Its type and config are checked now (422 with the reason); a taken name is 409.",
    )
    def create(body: EvaluatorIn, principal: Auth) -> EvaluatorOut:
        created = evaluators.create_evaluator(
            ctx.sessions, principal.project_rowid, body.name, body.type, body.config,
            enabled=body.enabled, target=body.target, sampling_rate=body.sampling_rate, filter_=body.filter,
        )  # fmt: skip
        return EvaluatorOut.model_validate(created, from_attributes=True)

    @router.get("/evaluators/{name}", summary="One evaluator")
    def get(name: str, principal: Auth) -> EvaluatorOut:
        found = evaluators.get_evaluator(ctx.sessions, principal.project_rowid, name)
        return EvaluatorOut.model_validate(found, from_attributes=True)

    @router.patch(
        "/evaluators/{name}",
        summary="Change an evaluator",
        description="Fields left out stay; a different config becomes the next configuration version.",
    )
    def change(name: str, body: EvaluatorPatch, principal: Auth) -> EvaluatorOut:
        given = body.model_dump(exclude_unset=True)
        if "filter" in given:
            given["filter_"] = given.pop("filter")
        changed = evaluators.update_evaluator(ctx.sessions, principal.project_rowid, name, **given)
        return EvaluatorOut.model_validate(changed, from_attributes=True)

    @router.get("/evaluators/{name}/configs", summary="Every configuration version, newest first")
    def configs(name: str, principal: Auth) -> EvaluatorConfigList:
        history = evaluators.config_history(ctx.sessions, principal.project_rowid, name)
        return EvaluatorConfigList(
            versions=[EvaluatorConfigOut(version=v, config=c, created_at=t) for v, c, t in history]
        )

    @router.post(
        "/evaluations",
        status_code=202,
        summary="Evaluate traces now",
        description="Queues the traces (by id, or all a trace-list filter matches, at most 10,000) for the "
        "named evaluators, or every enabled one; 404 names unknown evaluators or traces.",
    )
    def evaluate(body: EvaluationIn, principal: Auth) -> EvaluationQueued:
        if (body.trace_ids is None) == (body.filter is None):
            raise Unprocessable('give "trace_ids" or "filter" (one of them)')
        trace_ids = body.trace_ids
        if trace_ids is None:
            given = body.filter or {}
            unknown = sorted(set(given) - {f.name for f in dataclasses.fields(TraceFilter)})
            if unknown:
                raise Unprocessable(
                    f"unknown filter {', '.join(unknown)}; GET /api/v1/traces documents the filters"
                )
            try:
                filters = TypeAdapter(TraceFilter).validate_python(given)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise Unprocessable(f"invalid filter: {problems}") from exc
            trace_ids = traces_matching(
                ctx.sessions, principal.project_rowid, filters, ctx.settings.retention_days
            )
        queued = request_evaluation(
            ctx.sessions, principal.project_rowid, trace_ids, body.evaluators, ctx.queue.enqueue_evaluation
        )
        return EvaluationQueued(queued=queued)

    @router.post(
        "/evaluators/{name}/preview",
        summary="Try an evaluator on one trace without storing a score",
        description="A replayed trace is judged with its original. An evaluator that cannot judge answers "
        'status "error" with the reason.',
    )
    def try_on(name: str, body: PreviewIn, principal: Auth) -> PreviewOut:
        services = EvalServices(ctx.providers, ctx.ingest)
        outcome = preview(ctx.sessions, principal.project_rowid, name, body.trace_id, services)
        if isinstance(outcome, str):
            return PreviewOut(status="error", data_type=None, value=None, label=None, reasoning=None,
                              details=None, error=outcome)  # fmt: skip
        return PreviewOut(status="scored", data_type=outcome.type, value=outcome.value,
                          label=outcome.label, reasoning=outcome.reasoning,
                          details=outcome.details or None, error=None)  # fmt: skip

    @router.delete("/evaluators/{name}", status_code=204, summary="Remove an evaluator")
    def remove(name: str, principal: Auth) -> Response:
        evaluators.delete_evaluator(ctx.sessions, principal.project_rowid, name)
        return Response(status_code=204)

    return router
