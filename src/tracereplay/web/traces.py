"""Trace pages: the list (filters, search, sorting, cursor pages, a chart of the range) and one
trace (waterfall, the selected span's messages and attributes, scores, replay history)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.errors import InvalidInput
from tracereplay.projects.service import Principal
from tracereplay.replay.service import list_replays
from tracereplay.traces.queries import (
    SeriesBucket,
    SortField,
    TraceFilter,
    get_span,
    get_trace,
    list_traces,
    same_call_records,
    span_records_of_call,
    trace_series,
)
from tracereplay.web.app import Pages, htmx
from tracereplay.web.format import cost, duration, timestamp
from tracereplay.web.waterfall import waterfall

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
          "30d": timedelta(days=30), "all": None}  # fmt: skip
SORTS: dict[str, str] = {"start_time": "time", "duration_ms": "duration", "total_tokens": "tokens",
                         "cost": "cost", "span_count": "spans"}  # fmt: skip
PAGE_SIZE = 50


def _list_query(request: Request, **changes: str | None) -> str:
    """This list's query string with some parameters changed (None removes one)."""
    params = {key: value for key, value in request.query_params.items() if value}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlencode(params)


@dataclass
class ListFilters:
    """What the trace list's filter form sends (query parameters)."""

    q: str = ""
    name: str = ""
    model: str = ""
    tag: str = ""
    environment: str = ""
    errors: str = ""
    range: str = "7d"

    def filters(self, now: datetime) -> TraceFilter:
        if self.range not in RANGES:
            raise InvalidInput(f"unknown time range {self.range!r}; choose one of {', '.join(RANGES)}")
        span = RANGES[self.range]
        return TraceFilter(
            start_after=now - span if span else None, name=self.name or None, tag=self.tag or None,
            model=self.model or None, has_error=True if self.errors else None,
            environment=self.environment or None, search=self.q or None,
        )  # fmt: skip


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    retention = ctx.settings.retention_days
    Project = Annotated[Principal, Depends(pages.principal)]

    @router.get("/p/{project}/traces")
    def trace_list(
        request: Request,
        principal: Project,
        shown: Annotated[ListFilters, Depends()],
        sort: str = "start_time",
        order: str = "desc",
        cursor: str | None = None,
    ) -> Response:
        if sort not in get_args(SortField) or order not in ("asc", "desc"):
            raise InvalidInput(f"sort by one of {', '.join(SORTS)}, in asc or desc order")
        page = list_traces(
            ctx.sessions, principal.project_rowid, shown.filters(datetime.now(UTC)),
            sort=sort,  # type: ignore[arg-type]
            descending=order == "desc", limit=PAGE_SIZE, cursor=cursor or None, retention_days=retention,
        )  # fmt: skip
        return pages.render(request, "traces.html", {
            "project": principal.project, "page": page, "ranges": list(RANGES), "sorts": SORTS,
            "form": {**vars(shown), "sort": sort, "order": order},
            "chart_query": _list_query(request, cursor=None, sort=None, order=None),
            "next_query": _list_query(request, cursor=page.next_cursor) if page.next_cursor else None,
            "first_query": _list_query(request, cursor=None) if cursor else None,
            "base_url": str(request.base_url).rstrip("/"),
        })  # fmt: skip

    @router.get("/p/{project}/traces/chart")
    def trace_chart(
        request: Request, principal: Project, shown: Annotated[ListFilters, Depends()]
    ) -> Response:
        """The list's charts, asked for by the list page once it is shown: the list never
        waits for them."""
        now = datetime.now(UTC)
        series = trace_series(
            ctx.sessions, principal.project_rowid, shown.filters(now), end=now, retention_days=retention
        )
        return pages.render(request, "_charts.html", {"project": principal.project, "charts": charts(series)})

    @router.get("/p/{project}/traces/{trace_id}")
    def trace_page(request: Request, principal: Project, trace_id: str, span: str | None = None) -> Response:
        detail = get_trace(ctx.sessions, principal.project_rowid, trace_id, retention)
        rows = waterfall(detail.spans)
        selected = next((row.span for row in rows if row.span.span_id == span), None)
        if selected is None:  # the first LLM span, else the root
            calls = (r.span for r in rows if r.span.kind == "LLM" and r.span.same_call_as is None)
            selected = next(calls, rows[0].span if rows else None)
        history = list_replays(ctx.sessions, principal.project_rowid, trace_id, retention)
        same_call = same_call_records(detail.spans, selected) if selected and selected.kind == "LLM" else []
        return pages.render(request, "trace.html", {
            "project": principal.project, "detail": detail, "trace": detail.trace, "rows": rows,
            "selected": selected, "history": history,
            "link": detail.prompt_links.get(selected.span_id) if selected else None,
            "same_call": same_call,
        })  # fmt: skip

    @router.get("/p/{project}/traces/{trace_id}/spans/{span_id}")
    def span_panel(request: Request, principal: Project, trace_id: str, span_id: str) -> Response:
        if not htmx(request):
            return RedirectResponse(f"/p/{principal.project}/traces/{trace_id}?span={span_id}", 303)
        record, link = get_span(ctx.sessions, principal.project_rowid, trace_id, span_id, retention)
        same_call = (
            span_records_of_call(ctx.sessions, principal.project_rowid, trace_id, record, retention)
            if record.kind == "LLM" else []
        )  # fmt: skip
        return pages.render(request, "_span.html", {
            "project": principal.project, "trace_id": trace_id, "selected": record, "link": link,
            "same_call": same_call,
        })  # fmt: skip

    @router.get("/p/{project}/compare-selected")
    def compare_selected(principal: Project, trace: Annotated[list[str], Query()] = []) -> Response:  # noqa: B006
        if len(trace) != 2:
            raise InvalidInput(f"select exactly two traces to compare ({len(trace)} selected)")
        query = urlencode({"base": trace[0], "target": trace[1]})
        return RedirectResponse(f"/p/{principal.project}/compare?{query}", status_code=303)


def chart_bars(values: Sequence[float | None], titles: list[str]) -> list[dict[str, Any]]:
    """SVG bar geometry, in a 300 x 60 box, for a series (None and 0 draw no bar)."""
    top = max((v for v in values if v), default=0.0)
    if not values or not top:
        return []
    step = 300 / len(values)
    bars = []
    for index, (value, title) in enumerate(zip(values, titles, strict=True)):
        if value:
            height = max(value / top * 60, 1.5)
            x, width = round(index * step + 0.5, 2), round(max(step - 1, 0.5), 2)
            bars.append(
                {"x": x, "y": round(60 - height, 2), "w": width, "h": round(height, 2), "title": title}
            )
    return bars


def charts(series: list[SeriesBucket]) -> list[dict[str, Any]]:
    """Volume, cost and mean latency over the range, each with its total or overall figure."""
    when = [timestamp(bucket.start) for bucket in series]
    counts = [float(bucket.traces) for bucket in series]
    costs = [bucket.cost for bucket in series]
    latencies = [bucket.mean_duration_ms for bucket in series]
    # The range's cost is known when every slice with traces has a known cost.
    complete = all(b.cost is not None for b in series if b.traces)
    weighted = [(b.mean_duration_ms, b.traces) for b in series if b.mean_duration_ms is not None]
    mean = sum(m * n for m, n in weighted) / sum(n for _, n in weighted) if weighted else None
    pairs = list(zip(when, latencies, strict=True))
    return [
        {"label": "Traces", "total": f"{sum(b.traces for b in series):,}",
         "bars": chart_bars(counts, [f"{w}: {c:,.0f} traces" for w, c in zip(when, counts, strict=True)])},
        {"label": "Cost", "total": cost(sum(c or 0 for c in costs)) if complete else "unknown",
         "bars": chart_bars(costs, [f"{w}: {cost(c)}" for w, c in zip(when, costs, strict=True)])},
        {"label": "Mean latency", "total": duration(mean),
         "bars": chart_bars(latencies, [f"{w}: {duration(m)}" for w, m in pairs])},
    ]  # fmt: skip
