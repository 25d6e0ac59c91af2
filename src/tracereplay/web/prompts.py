"""Prompt pages: the templates, one template's versions with their labels, a version diff, and
new versions."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.errors import TraceReplayError, Unprocessable
from tracereplay.projects.service import Principal
from tracereplay.prompts.service import (
    create_version,
    diff_versions,
    get_version,
    list_prompts,
    list_versions,
    set_label,
)
from tracereplay.web.app import Pages, form_fields


def _json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"{what} is not valid JSON: {exc}") from exc


def new_version_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The arguments of `create_version` from the form: the body as text, or a chat template
    as a JSON list of messages; config as a JSON object; labels comma-separated."""
    kind = form.get("type", "text")
    body = form.get("prompt", "")
    config = form.get("config", "").strip()
    return {
        "prompt_type": kind,
        "prompt": _json(body, "a chat template (a JSON list of messages)") if kind == "chat" else body,
        "config": _json(config, "config") if config else None,
        "commit_message": form.get("commit_message", "").strip() or None,
        "labels": [label.strip() for label in form.get("labels", "").split(",") if label.strip()],
    }


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    Project = Annotated[Principal, Depends(pages.principal)]

    @router.get("/p/{project}/prompts")
    def prompt_list(request: Request, principal: Project) -> Response:
        prompts = list_prompts(ctx.sessions, principal.project_rowid)
        return pages.render(request, "prompts.html", {
            "project": principal.project, "section": "prompts", "prompts": prompts, "values": {},
            "error": None,
        })  # fmt: skip

    @router.post("/p/{project}/prompts")
    async def prompt_create(request: Request, principal: Project) -> Response:
        form = await form_fields(request)
        name = form.get("name", "").strip()
        try:
            create_version(ctx.sessions, principal.project_rowid, name, **new_version_from_form(form))
        except TraceReplayError as exc:
            if exc.status >= 500:
                raise
            prompts = list_prompts(ctx.sessions, principal.project_rowid)
            return pages.render(request, "prompts.html", {
                "project": principal.project, "section": "prompts", "prompts": prompts, "values": form,
                "error": exc.message,
            }, status=exc.status)  # fmt: skip
        return RedirectResponse(f"/p/{principal.project}/prompts/{name}", status_code=303)

    @router.get("/p/{project}/prompts/{name}")
    def prompt_page(
        request: Request,
        principal: Project,
        name: str,
        version: int | None = None,
        base: int | None = None,
        target: int | None = None,
    ) -> Response:
        versions = sorted(list_versions(ctx.sessions, principal.project_rowid, name), key=lambda v: v.version)
        shown = get_version(
            ctx.sessions,
            principal.project_rowid,
            name,
            version=versions[-1].version if version is None else version,
        )
        diff = None
        if base is not None and target is not None:
            diff = diff_versions(ctx.sessions, principal.project_rowid, name, base, target)
        return pages.render(request, "prompt.html", {
            "project": principal.project, "section": "prompts", "name": name, "versions": versions,
            "shown": shown, "diff": diff, "base": base, "target": target, "values": {}, "error": None,
        })  # fmt: skip

    @router.post("/p/{project}/prompts/{name}/versions")
    async def version_create(request: Request, principal: Project, name: str) -> Response:
        form = await form_fields(request)
        try:
            created = create_version(
                ctx.sessions, principal.project_rowid, name, **new_version_from_form(form)
            )
        except TraceReplayError as exc:
            if exc.status >= 500 or exc.status == 404:
                raise
            versions = sorted(
                list_versions(ctx.sessions, principal.project_rowid, name), key=lambda v: v.version
            )
            return pages.render(request, "prompt.html", {
                "project": principal.project, "section": "prompts", "name": name, "versions": versions,
                "shown": versions[-1], "diff": None, "base": None, "target": None, "values": form,
                "error": exc.message,
            }, status=exc.status)  # fmt: skip
        return RedirectResponse(
            f"/p/{principal.project}/prompts/{name}?version={created.version}", status_code=303
        )

    @router.post("/p/{project}/prompts/{name}/labels")
    async def label_move(request: Request, principal: Project, name: str) -> Response:
        form = await form_fields(request)
        version = form.get("version", "")
        if not version.isdecimal() or not version.isascii():
            raise Unprocessable("choose the version the label moves to")
        set_label(ctx.sessions, principal.project_rowid, name, form.get("label", "").strip(), int(version))
        return RedirectResponse(f"/p/{principal.project}/prompts/{name}?version={version}", status_code=303)
