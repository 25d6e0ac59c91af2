"""Evaluator pages: the project's evaluators (enable, disable, delete), a new one of any built-in
type, editing one (a new configuration version), and a preview on one trace."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.errors import TraceReplayError, Unprocessable
from tracereplay.evals import service as evaluators
from tracereplay.evals.pipeline import EvalServices, preview
from tracereplay.projects.service import Principal
from tracereplay.web.app import Pages, form_fields


def _settings_from_form(form: dict[str, str]) -> dict[str, Any]:
    """Config (a JSON object), target, sampling rate and enabled, as `create_evaluator` and
    `update_evaluator` take them."""
    text = form.get("config", "").strip() or "{}"
    try:
        config = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"config is not valid JSON: {exc}") from exc
    try:
        rate = float(form.get("sampling_rate", "1") or "1")
    except ValueError as exc:
        raise Unprocessable("the sampling rate is a number from 0 to 1") from exc
    return {"config": config, "target": form.get("target", "replays"), "sampling_rate": rate,
            "enabled": form.get("enabled") == "on"}  # fmt: skip


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    Project = Annotated[Principal, Depends(pages.principal)]

    def list_page(request: Request, principal: Principal, values: dict[str, str], error: str | None,
                  status: int = 200) -> Response:  # fmt: skip
        return pages.render(request, "evaluators.html", {
            "project": principal.project, "section": "evaluators", "values": values, "error": error,
            "evaluators": evaluators.list_evaluators(ctx.sessions, principal.project_rowid),
            "types": sorted(evaluators.evaluator_types().values(), key=lambda t: t.name),
        }, status=status)  # fmt: skip

    @router.get("/p/{project}/evaluators")
    def evaluator_list(request: Request, principal: Project) -> Response:
        return list_page(request, principal, {"enabled": "on"}, None)

    @router.post("/p/{project}/evaluators")
    async def evaluator_create(request: Request, principal: Project) -> Response:
        form = await form_fields(request)
        try:
            chosen = _settings_from_form(form)
            evaluators.create_evaluator(
                ctx.sessions, principal.project_rowid, form.get("name", "").strip(), form.get("type", ""),
                chosen["config"], enabled=chosen["enabled"], target=chosen["target"],
                sampling_rate=chosen["sampling_rate"],
            )  # fmt: skip
        except TraceReplayError as exc:
            if exc.status >= 500:
                raise
            return list_page(request, principal, form, exc.message, exc.status)
        return RedirectResponse(f"/p/{principal.project}/evaluators", status_code=303)

    @router.post("/p/{project}/evaluators/{name}/toggle")
    async def evaluator_toggle(request: Request, principal: Project, name: str) -> Response:
        form = await form_fields(request)
        evaluators.update_evaluator(
            ctx.sessions, principal.project_rowid, name, enabled=form.get("enabled") == "true"
        )
        return RedirectResponse(f"/p/{principal.project}/evaluators", status_code=303)

    @router.post("/p/{project}/evaluators/{name}/delete")
    async def evaluator_delete(request: Request, principal: Project, name: str) -> Response:
        await form_fields(request)
        evaluators.delete_evaluator(ctx.sessions, principal.project_rowid, name)
        return RedirectResponse(f"/p/{principal.project}/evaluators", status_code=303)

    def edit_page(request: Request, principal: Principal, name: str, values: dict[str, str] | None,
                  error: str | None = None, outcome: Any = None, status: int = 200) -> Response:  # fmt: skip
        found = evaluators.get_evaluator(ctx.sessions, principal.project_rowid, name)
        if values is None:
            values = {"config": orjson.dumps(found.config, option=orjson.OPT_INDENT_2).decode(),
                      "target": found.target, "sampling_rate": str(found.sampling_rate),
                      "enabled": "on" if found.enabled else ""}  # fmt: skip
        return pages.render(request, "evaluator.html", {
            "project": principal.project, "section": "evaluators", "evaluator": found, "values": values,
            "error": error, "outcome": outcome,
            "history": evaluators.config_history(ctx.sessions, principal.project_rowid, name),
        }, status=status)  # fmt: skip

    @router.get("/p/{project}/evaluators/{name}")
    def evaluator_page(request: Request, principal: Project, name: str) -> Response:
        return edit_page(request, principal, name, None)

    @router.post("/p/{project}/evaluators/{name}")
    async def evaluator_update(request: Request, principal: Project, name: str) -> Response:
        form = await form_fields(request)
        try:
            chosen = _settings_from_form(form)
            evaluators.update_evaluator(ctx.sessions, principal.project_rowid, name, **chosen)
        except TraceReplayError as exc:
            if exc.status >= 500 or exc.status == 404:
                raise
            return edit_page(request, principal, name, form, exc.message, status=exc.status)
        return RedirectResponse(f"/p/{principal.project}/evaluators/{name}", status_code=303)

    @router.post("/p/{project}/evaluators/{name}/preview")
    async def evaluator_preview(request: Request, principal: Project, name: str) -> Response:
        form = await form_fields(request)
        trace_id = form.get("trace_id", "").strip()
        if not trace_id:
            raise Unprocessable("give the id of the trace to try the evaluator on")
        outcome = preview(ctx.sessions, principal.project_rowid, name, trace_id,
                          EvalServices(ctx.providers, ctx.ingest))  # fmt: skip
        return pages.render(request, "_preview.html", {
            "project": principal.project, "outcome": outcome, "trace_id": trace_id,
        })  # fmt: skip
