"""The comparison page: summary deltas coloured by verdict, both waterfalls aligned pair by pair,
a pair's input/output diffs on request, the score table and the final output's diff."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.compare.render import LABELS
from tracereplay.compare.service import compare_spans, compare_traces
from tracereplay.projects.service import Principal
from tracereplay.web.app import Pages, htmx

ARROWS = {"up": "▲", "down": "▼", "same": "=", "unknown": "?"}


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    retention = ctx.settings.retention_days
    Project = Annotated[Principal, Depends(pages.principal)]

    @router.get("/p/{project}/compare")
    def comparison(request: Request, principal: Project, base: str, target: str) -> Response:
        document = compare_traces(ctx.sessions, principal.project_rowid, base, target, retention)
        totals = {d["metric"]: d for d in document["summary"]}["duration_ms"]
        return pages.render(request, "compare.html", {
            "project": principal.project, "doc": document, "labels": LABELS, "arrows": ARROWS,
            "base_total": totals["base"] or 0, "target_total": totals["target"] or 0,
        })  # fmt: skip

    @router.get("/p/{project}/compare/spans")
    def pair_diff(
        request: Request, principal: Project, base: str, base_span: str, target: str, target_span: str
    ) -> Response:
        if not htmx(request):
            return RedirectResponse(f"/p/{principal.project}/compare?base={base}&target={target}", 303)
        pair = compare_spans(
            ctx.sessions, principal.project_rowid, (base, base_span), (target, target_span), retention
        )
        return pages.render(request, "_pair_diff.html", {"project": principal.project, "pair": pair})
