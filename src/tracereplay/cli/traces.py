"""`traces list|show` and `compare`: reading stored traces and what changed between two."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.tree import Tree

from tracereplay.errors import TraceReplayError

if TYPE_CHECKING:
    pass

from tracereplay.cli._common import (
    ProjectOption,
    app,
    console,
    open_context,
    project_rowid,
)

traces_app = typer.Typer(help="Browse stored traces.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")


@traces_app.command("renormalise")
def traces_renormalise(project: ProjectOption = None) -> None:
    """Read every stored span of a project again through the conventions (after an upgrade
    taught a mapper more); spans whose reading changed are stored again."""
    from tracereplay.ingest.renormalise import renormalise_project

    with open_context() as ctx:
        done = renormalise_project(ctx.sessions, ctx.ingest, project_rowid(ctx, project))
    console.print(f"{done.spans} spans in {done.traces} traces read again; {done.changed} changed")


@traces_app.command("list")
def traces_list(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(help="How many traces.")] = 20,
    model: Annotated[str | None, typer.Option(help="Only traces with an LLM span of this model.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only traces with this tag.")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only traces with an error.")] = False,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Free text in inputs/outputs.")] = None,
) -> None:
    """List the newest traces."""
    from tracereplay.traces.queries import TraceFilter, list_traces

    filters = TraceFilter(model=model, tag=tag, has_error=True if errors else None, search=search)
    with open_context() as ctx:
        page = list_traces(
            ctx.sessions,
            project_rowid(ctx, project),
            filters,
            limit=limit,
            retention_days=ctx.settings.retention_days,
        )
    table = Table(
        Column("trace id", no_wrap=True, min_width=32),
        "name",
        "start",
        "duration",
        "spans",
        "LLM",
        "errors",
        "tokens",
        "cost",
    )
    for trace in page.traces:
        table.add_row(
            trace.trace_id,
            trace.name or "",
            trace.start_time.strftime("%Y-%m-%d %H:%M:%S") if trace.start_time else "",
            f"{trace.duration_ms:.0f} ms" if trace.duration_ms is not None else "",
            str(trace.span_count),
            str(trace.llm_span_count),
            str(trace.error_count),
            str(trace.total_tokens or ""),
            f"${trace.cost:.6f}" if trace.cost is not None else "unknown",
        )
    console.print(table)


@traces_app.command("show")
def traces_show(trace_id: str, project: ProjectOption = None) -> None:
    """Show one trace as a span tree."""
    from tracereplay.traces.queries import get_trace

    with open_context() as ctx:
        detail = get_trace(ctx.sessions, project_rowid(ctx, project), trace_id, ctx.settings.retention_days)
    trace = detail.trace
    by_id = {span.span_id: span for span in detail.spans}
    root = Tree(
        f"[bold]{trace.name or '(no root span yet)'}[/] {trace.trace_id}  {trace.duration_ms or 0:.0f} ms"
    )

    def add(branch: Tree, node: dict[str, object]) -> None:
        span = by_id[str(node["span_id"])]
        label = f"[cyan]{span.kind}[/] {span.name}  {span.duration_ms:.0f} ms"
        if span.model:
            label += f"  [magenta]{span.model}[/] {span.total_tokens or 0} tok"
        if span.status_code == "ERROR":
            label += f"  [red]ERROR {span.status_message or ''}[/]"
        child = branch.add(label)
        for sub in node["children"]:  # type: ignore[attr-defined]
            add(child, sub)

    for node in detail.tree:
        add(root, node)
    console.print(root)


def score_value(data_type: str, value: float | None) -> str:
    if value is None:
        return ""
    if data_type == "boolean":
        return "pass" if value == 1.0 else "fail"
    return f"{value:.3f}"


VERDICT_STYLES = {"better": "green", "worse": "red", "same": "dim", "changed": "yellow", "unknown": "dim",
                  "missing": "dim", "error": "red"}  # fmt: skip


def print_comparison(document: dict[str, object]) -> None:
    from tracereplay.compare.render import output_lines, score_rows, summary_rows

    table = Table("metric", "base", "target", "change", "verdict")
    for metric, base, target, change, verdict in summary_rows(document):
        style = VERDICT_STYLES.get(verdict, "")
        table.add_row(metric, base, target, f"[{style}]{escape(change)}[/]", f"[{style}]{verdict}[/]")
    console.print(table)
    scores = score_rows(document)
    if scores:
        score_table = Table("score", "base", "target", "verdict")
        for name, base, target, verdict in scores:
            style = VERDICT_STYLES.get(verdict, "")
            score_table.add_row(escape(name), escape(base), escape(target), f"[{style}]{verdict}[/]")
        console.print(score_table)
    console.print("final output:")
    styles = {"insert": "green", "delete": "red strike", "equal": "", "info": "dim"}
    console.print("".join(f"[{styles[op]}]{escape(text)}[/]" if styles[op] else escape(text)
                          for op, text in output_lines(document)))  # fmt: skip


@app.command()
def compare(
    base: Annotated[str | None, typer.Argument(help="The trace compared from.")] = None,
    target: Annotated[str | None, typer.Argument(help="The trace compared to.")] = None,
    replay_id: Annotated[
        str | None, typer.Option("--replay", help="Compare a replay with its original instead.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="text, json or markdown.")] = "text",
    project: ProjectOption = None,
) -> None:
    """Compare two traces (or a replay with its original): deltas, scores, the final output's diff."""
    from tracereplay.compare.render import markdown
    from tracereplay.compare.service import compare_replay, compare_traces

    if output_format not in ("text", "json", "markdown"):
        raise TraceReplayError(f"--format is text, json or markdown, not {output_format!r}")
    if (replay_id is None) == (base is None or target is None):
        raise TraceReplayError("give BASE and TARGET trace ids, or --replay REPLAY_ID")
    with open_context() as ctx:
        rowid, retention = project_rowid(ctx, project), ctx.settings.retention_days
        if replay_id is not None:
            document = compare_replay(ctx.sessions, rowid, replay_id, retention)
        else:
            document = compare_traces(ctx.sessions, rowid, str(base), str(target), retention)
    if output_format == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output_format == "markdown":
        sys.stdout.write(markdown(document) + "\n")
    else:
        print_comparison(document)
