"""REST API for prompt templates: versions, labels, rendering and diffs (`/api/v1/prompts`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import (
    LabelIn,
    PromptDiffOut,
    PromptImportIn,
    PromptIn,
    PromptList,
    PromptSummaryOut,
    PromptVersionList,
    PromptVersionOut,
    RenderIn,
    RenderOut,
)
from tracereplay.context import AppContext
from tracereplay.ingest.conventions.prompt_links import MAX_VERSION
from tracereplay.projects.service import Principal
from tracereplay.prompts import service as prompts
from tracereplay.traces.queries import get_span

VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number")]


def prompts_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["prompts"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]

    @router.get("/prompts", summary="This project's prompts, with their latest version and labels")
    def list_prompts(principal: Auth) -> PromptList:
        found = prompts.list_prompts(ctx.sessions, principal.project_rowid)
        return PromptList(prompts=[PromptSummaryOut.model_validate(p, from_attributes=True) for p in found])

    @router.post(
        "/prompts",
        status_code=201,
        summary="Create a prompt version",
        description="Version N+1 of the prompt named `name` (version 1 creates it). Versions never "
        "change; `labels` are moved to the new version.",
    )
    def create_version(body: PromptIn, principal: Auth) -> PromptVersionOut:
        created = prompts.create_version(
            ctx.sessions,
            principal.project_rowid,
            body.name,
            body.type,
            body.prompt,
            config=body.config,
            commit_message=body.commit_message,
            labels=body.labels,
        )
        return PromptVersionOut.of(created)

    @router.post(
        "/prompts/import",
        status_code=201,
        summary="Import the template a span recorded inline as a prompt version",
        description="For spans that record their template inline (OpenInference's "
        "`llm.prompt_template.template`): it becomes the next version of prompt `name`, and every "
        "span with the same template then links to it.",
    )
    def import_template(body: PromptImportIn, principal: Auth) -> PromptVersionOut:
        span, _ = get_span(
            ctx.sessions, principal.project_rowid, body.trace_id, body.span_id, ctx.settings.retention_days
        )
        source = f"span {span.span_id} of trace {span.trace_id}"
        return PromptVersionOut.of(
            prompts.import_span_template(ctx.sessions, principal.project_rowid, body.name, span, source)
        )

    @router.get(
        "/prompts/{name}",
        summary="One version of a prompt: by `version`, by `label`, or the latest",
    )
    def get_prompt(
        name: str,
        principal: Auth,
        version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
        label: Annotated[str | None, Query(examples=["production"])] = None,
    ) -> PromptVersionOut:
        return PromptVersionOut.of(
            prompts.get_version(ctx.sessions, principal.project_rowid, name, version=version, label=label)
        )

    @router.get("/prompts/{name}/versions", summary="Every version of a prompt, newest first")
    def versions(name: str, principal: Auth) -> PromptVersionList:
        found = prompts.list_versions(ctx.sessions, principal.project_rowid, name)
        return PromptVersionList(versions=[PromptVersionOut.of(v) for v in found])

    @router.get("/prompts/{name}/versions/{version}", summary="One version of a prompt")
    def version(name: str, version: VersionNumber, principal: Auth) -> PromptVersionOut:
        return PromptVersionOut.of(
            prompts.get_version(ctx.sessions, principal.project_rowid, name, version=version)
        )

    @router.put(
        "/prompts/{name}/versions/{version}",
        status_code=409,
        summary="Versions cannot be edited (always 409)",
        description="A version is immutable; create a new version and move a label to it.",
    )
    @router.patch("/prompts/{name}/versions/{version}", status_code=409, include_in_schema=False)
    def edit_version(name: str, version: VersionNumber, principal: Auth) -> None:
        prompts.get_version(ctx.sessions, principal.project_rowid, name, version=version)  # 404 first
        prompts.refuse_edit(name, version)

    @router.post(
        "/prompts/{name}/labels",
        summary="Move a label to a version",
        description="One atomic change: the label leaves its old version as it reaches the new one.",
    )
    def set_label(name: str, body: LabelIn, principal: Auth) -> PromptVersionOut:
        return PromptVersionOut.of(
            prompts.set_label(ctx.sessions, principal.project_rowid, name, body.label, body.version)
        )

    @router.delete("/prompts/{name}/labels/{label}", status_code=204, summary="Remove a label")
    def remove_label(name: str, label: str, principal: Auth) -> Response:
        prompts.remove_label(ctx.sessions, principal.project_rowid, name, label)
        return Response(status_code=204)

    @router.post(
        "/prompts/{name}/versions/{version}/render",
        summary="Render a version with variables",
        description="422 names every missing variable, and placeholders that are not lists of messages.",
    )
    def render(name: str, version: VersionNumber, body: RenderIn, principal: Auth) -> RenderOut:
        found = prompts.get_version(ctx.sessions, principal.project_rowid, name, version=version)
        return RenderOut(
            version_id=found.version_id,
            name=found.name,
            version=found.version,
            type=found.type,
            prompt=found.render(body.variables),
        )

    @router.get("/prompts/{name}/diff", summary="How one version differs from another")
    def diff(
        name: str,
        principal: Auth,
        base: Annotated[int, Query(ge=1, le=MAX_VERSION, description="The older version")],
        target: Annotated[int, Query(ge=1, le=MAX_VERSION, description="The newer version")],
    ) -> PromptDiffOut:
        changes = prompts.diff_versions(ctx.sessions, principal.project_rowid, name, base, target)
        return PromptDiffOut(name=name, base=base, target=target, **changes)

    @router.get("/prompt-versions/{version_id}", summary="One prompt version by its id")
    def by_id(version_id: str, principal: Auth) -> PromptVersionOut:
        return PromptVersionOut.of(
            prompts.get_version_by_id(ctx.sessions, principal.project_rowid, version_id)
        )

    return router
