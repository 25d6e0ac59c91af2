"""`serve`, `worker`, `import`, `demo` and `version`: running the server and feeding it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from tracereplay import __version__
from tracereplay.errors import TraceReplayError

if TYPE_CHECKING:
    from tracereplay.context import AppContext

from tracereplay.cli._common import (
    ProjectOption,
    announce_key,
    app,
    console,
    err,
    load_settings,
    open_context,
    project_rowid,
)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (TRACEREPLAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TRACEREPLAY_PORT).")] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run job consumer threads in this process.")
    ] = True,
) -> None:
    """Start the server (API, OTLP receiver and, by default, the job worker)."""
    import uvicorn

    from tracereplay.api.app import create_app
    from tracereplay.context import AppContext
    from tracereplay.ingest.helpers import tune_gc

    settings = load_settings(host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ctx = AppContext.open(settings)  # the app's lifespan closes it
    application = create_app(settings, run_worker=worker, ctx=ctx)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]tracereplay {__version__}[/] on {base}  (API docs: {base}/docs)")
    console.print(f"  database: {ctx.engine.url.render_as_string(hide_password=True)}")
    console.print(f"  OTLP endpoint: OTEL_EXPORTER_OTLP_ENDPOINT={base}")
    announce_key(ctx.bootstrap(), console)
    tune_gc()
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once (TRACEREPLAY_WORKER_CONCURRENCY, default 3).")
    ] = None,
) -> None:
    """Run a job worker process (use with TRACEREPLAY_QUEUE_URL=redis://…)."""
    settings = load_settings(worker_concurrency=concurrency)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    with open_context(settings) as ctx:
        console.print(
            f"worker: {settings.worker_concurrency} job slots, queue {settings.queue_url or 'sqlite'}"
        )
        ctx.queue.consumer().run()


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="OTLP JSON or JSONL file.")],
    project: ProjectOption = None,
) -> None:
    """Import traces from an OTLP/JSON export request, or JSONL with one request per line."""
    with open_context() as ctx:
        stored, rejected = _import(ctx, project_rowid(ctx, project), path)
    console.print(f"imported {stored} spans" + (f", {rejected} rejected" if rejected else ""))


def _import(ctx: AppContext, rowid: int, path: Path) -> tuple[int, int]:
    from tracereplay.ingest.otlp import parse_trace_request, spans_from_request

    stored = rejected = 0
    text = path.read_bytes()
    try:  # one (possibly pretty-printed) request, else JSONL
        lines = [orjson.dumps(orjson.loads(text))]
    except orjson.JSONDecodeError as whole:
        lines = text.splitlines()
        try:  # JSONL starts with a complete request on its first line
            orjson.loads(next((line for line in lines if line.strip()), b""))
        except orjson.JSONDecodeError:
            raise TraceReplayError(f"{path}:{whole.lineno}: {whole.msg} (column {whole.colno})") from whole
    columns = (TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("import", total=len(text))
        for number, line in enumerate(lines, start=1):
            progress.advance(task, len(line) + 1)
            if not line.strip():
                continue
            try:
                decoded = spans_from_request(parse_trace_request(orjson.loads(line), json=True))
            except (orjson.JSONDecodeError, TraceReplayError) as exc:
                raise TraceReplayError(f"{path}:{number}: {exc}") from exc
            stored += ctx.ingest.store_spans(rowid, decoded.spans)
            rejected += decoded.rejected
            for problem in decoded.problems:
                err.print(f"[yellow]{escape(f'{path}:{number}: skipped: {problem}')}[/]")
    return stored, rejected


@app.command()
def demo(project: ProjectOption = None) -> None:
    """Record demo traces (a small weather agent) with the local model, ready to replay."""
    from tracereplay.demo import record_demo_traces

    with open_context() as ctx, err.status("running the demo agent on the local model (gemma-3-270m)…"):
        trace_ids = record_demo_traces(ctx, project_rowid(ctx, project))
    console.print(f"recorded {len(trace_ids)} demo traces:")
    for trace_id in trace_ids:
        console.print(f"  {trace_id}")
    console.print(f"replay one: tracereplay replay {trace_ids[0]} --param temperature=0 --wait")
    console.print(
        f"or with version 2 of its prompt: tracereplay replay {trace_ids[0]} "
        "--prompt-version weather-agent:2 --wait"
    )
