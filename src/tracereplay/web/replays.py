"""Replay pages: the form (model with prices and the estimated cost, prompt version, parameters
pre-filled from the original, one span or all), the request, and a replay's live status."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.errors import TraceReplayError, Unprocessable
from tracereplay.projects.service import Principal
from tracereplay.replay.options import replay_options
from tracereplay.replay.service import ReplayRequest, create_replay, get_replay, parameter_value
from tracereplay.web.app import Pages, form_fields, htmx

# Parameters with their own field; others are key/value rows.
NAMED_PARAMETERS = ("temperature", "max_tokens", "top_p")
EXTRA_ROWS = 3


def parameters_from_form(form: dict[str, str]) -> dict[str, Any]:
    """Only what the user filled in: a blank field keeps the recorded value."""
    chosen: dict[str, Any] = {}
    for name in NAMED_PARAMETERS:
        text = form.get(name, "").strip()
        if text:
            value = parameter_value(text)
            if isinstance(value, str):
                raise Unprocessable(f"{name} must be a number, not {text!r}")
            chosen[name] = value
    for row in range(EXTRA_ROWS):
        key, text = form.get(f"key{row}", "").strip(), form.get(f"value{row}", "").strip()
        if key and key in chosen:
            raise Unprocessable(f"parameter {key!r} is given twice")
        if key:
            chosen[key] = parameter_value(text) if text else None  # an empty value removes the parameter
        elif text:
            raise Unprocessable(f"the value {text!r} in row {row + 1} has no parameter name")
    return chosen


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    retention = ctx.settings.retention_days
    Project = Annotated[Principal, Depends(pages.principal)]

    def form_page(
        request: Request, principal: Principal, trace_id: str, span: str | None,
        values: dict[str, str], error: str | None = None, status: int = 200,
    ) -> Response:  # fmt: skip
        book = ctx.prices.book(principal.project_rowid)
        options = replay_options(ctx.sessions, ctx.providers, book, principal.project_rowid, trace_id,
                                 [span] if span else None, retention)  # fmt: skip
        return pages.render(request, "replay_form.html", {
            "project": principal.project, "options": options, "trace": options.trace, "span": span,
            "values": values, "error": error, "named": NAMED_PARAMETERS, "extra_rows": range(EXTRA_ROWS),
        }, status=status)  # fmt: skip

    @router.get("/p/{project}/traces/{trace_id}/replay")
    def replay_form(request: Request, principal: Project, trace_id: str, span: str | None = None) -> Response:
        return form_page(request, principal, trace_id, span, {})

    @router.post("/p/{project}/traces/{trace_id}/replay")
    async def request_replay(request: Request, principal: Project, trace_id: str) -> Response:
        form = await form_fields(request)
        span = form.get("span") or None
        try:
            replay = create_replay(
                ctx.sessions, ctx.providers, principal.project_rowid, trace_id,
                ReplayRequest(form.get("model") or None, form.get("prompt_version") or None,
                              parameters_from_form(form) or None, [span] if span else None,
                              reconstruct_tools=form.get("reconstruct_tools") == "on"),
                retention_days=retention, enqueue=ctx.queue.enqueue_replay,
            )  # fmt: skip
        except TraceReplayError as exc:
            if exc.status >= 500 or exc.status == 404:
                raise
            return form_page(request, principal, trace_id, span, form, exc.message, status=exc.status)
        return RedirectResponse(f"/p/{principal.project}/replays/{replay.replay_id}", status_code=303)

    @router.get("/p/{project}/replays/{replay_id}")
    def replay_page(request: Request, principal: Project, replay_id: str) -> Response:
        replay = get_replay(ctx.sessions, principal.project_rowid, replay_id)
        template = "_replay_status.html" if htmx(request) else "replay.html"
        return pages.render(request, template, {
            "project": principal.project, "replay": replay, "finished": replay.status.finished,
        })  # fmt: skip
