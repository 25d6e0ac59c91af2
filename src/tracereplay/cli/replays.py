"""`replay`, `replays list` and `models`: replaying a trace and following it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from tracereplay.context import AppContext
    from tracereplay.replay.service import ReplayView

from tracereplay.cli._common import (
    ProjectOption,
    app,
    console,
    err,
    open_context,
    parse_parameter,
    project_rowid,
)
from tracereplay.cli.traces import print_comparison

replays_app = typer.Typer(help="A trace's replays.", no_args_is_help=True)
app.add_typer(replays_app, name="replays")


def replay_line(replay: ReplayView) -> str:
    line = f"{replay.replay_id}  {replay.status:<9} {replay.progress}"
    if replay.result_trace_id:
        line += f"  -> trace {replay.result_trace_id}"
    if replay.error:
        line += f"  ({escape(replay.error)})"
    return line


def _prompt_version_id(ctx: AppContext, project_rowid: int, value: str) -> str:
    """A version id as it is, or the id of NAME:VERSION."""
    from tracereplay.prompts.service import get_version

    name, _, number = value.rpartition(":")
    if not name or not number.isdigit():
        return value
    return get_version(ctx.sessions, project_rowid, name, version=int(number)).version_id


@app.command()
def replay(
    trace_id: str,
    model: Annotated[
        str | None, typer.Option(help="Model for every LLM span (provider:model or a name).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Parameter override, name=value (repeatable; =null removes)."),
    ] = None,
    prompt_version: Annotated[
        str | None,
        typer.Option(
            "--prompt-version", help="Prompt version: NAME:VERSION (weather-agent:2) or its version id."
        ),
    ] = None,
    span: Annotated[
        list[str] | None,
        typer.Option("--span", help="Re-run only this LLM span (repeatable); the others are copied."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow progress until the replay ends.")] = False,
    project: ProjectOption = None,
) -> None:
    """Replay a trace with another model, prompt version or parameters."""
    from tracereplay.replay.lifecycle import ReplayStatus
    from tracereplay.replay.service import ReplayRequest, create_replay

    with open_context() as ctx:
        rowid = project_rowid(ctx, project)
        version_id = _prompt_version_id(ctx, rowid, prompt_version) if prompt_version else None
        parameters = dict(parse_parameter(p) for p in param or []) or None
        request = ReplayRequest(model, version_id, parameters, span or None)
        created = create_replay(
            ctx.sessions, ctx.providers, rowid, trace_id, request,
            retention_days=ctx.settings.retention_days, enqueue=ctx.queue.enqueue_replay,
        )  # fmt: skip
        console.print(f"replay {created.replay_id} queued for trace {trace_id}")
        if not wait:
            return
        finished = _follow(ctx, rowid, created)
        document = None
        if finished.result_trace_id is not None:
            from tracereplay.compare.service import compare_replay

            document = compare_replay(ctx.sessions, rowid, finished.replay_id, ctx.settings.retention_days)
    console.print(replay_line(finished))
    if document is not None:
        print_comparison(document)  # the same summary as `tracereplay compare --replay`
    if finished.status != ReplayStatus.COMPLETED:
        raise SystemExit(1)


def _follow(ctx: AppContext, rowid: int, replay: ReplayView) -> ReplayView:
    """Show a replay's progress until it ends; returns it as it ended."""
    import time

    from tracereplay.replay.lifecycle import ReplayStatus
    from tracereplay.replay.service import get_replay

    columns = (TextColumn("replaying"), BarColumn(), TextColumn("{task.completed}/{task.total} LLM spans"))
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("replay", total=replay.llm_spans_total)
        hint_at = time.monotonic() + 10
        while True:
            replay = get_replay(ctx.sessions, rowid, replay.replay_id)
            progress.update(task, completed=replay.llm_spans_done)
            if replay.status.finished:
                return replay
            if replay.status == ReplayStatus.PENDING and time.monotonic() > hint_at:
                err.print(
                    "still PENDING: is a worker taking jobs? Start `tracereplay serve` (or "
                    "`tracereplay worker` with TRACEREPLAY_QUEUE_URL set); this keeps waiting"
                )
                hint_at = float("inf")
            time.sleep(0.2)


@replays_app.command("list")
def replays_list(trace_id: str, project: ProjectOption = None) -> None:
    """A trace's replays, newest first."""
    from tracereplay.replay.service import list_replays

    with open_context() as ctx:
        replays = list_replays(
            ctx.sessions, project_rowid(ctx, project), trace_id, ctx.settings.retention_days
        )
    for item in replays:
        overrides = orjson.dumps(item.overrides).decode()
        console.print(f"{item.created_at:%Y-%m-%d %H:%M:%S}  {replay_line(item)}  {escape(overrides)}")


@app.command()
def models(project: ProjectOption = None) -> None:
    """Models a replay can use now, with their prices."""
    from tracereplay.providers.catalog import model_catalog

    with open_context() as ctx:
        catalog = model_catalog(ctx.providers, ctx.prices.book(project_rowid(ctx, project)))
    table = Table("model", "input $/Mtok", "output $/Mtok", "price from")
    for entry in catalog:
        table.add_row(
            entry.reference,
            "unknown" if entry.input_per_mtok is None else f"{entry.input_per_mtok:g}",
            "unknown" if entry.output_per_mtok is None else f"{entry.output_per_mtok:g}",
            entry.price_source or "",
        )
    console.print(table)
