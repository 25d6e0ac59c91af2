"""The `tracereplay` command: serve, worker, import, traces, replays, projects, keys, prices.

Commands parse arguments, call one service function, and print the view it returns; they
work on the database named by the same settings as the server (`TRACEREPLAY_*`). Each opens
its context in a `with` block: what it started (a writer, the queue) stops when it ends, and
a command that only reads starts none of it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table
from rich.tree import Tree

from tracereplay import __version__
from tracereplay.config import Settings
from tracereplay.errors import TraceReplayError
from tracereplay.projects import service as projects

if TYPE_CHECKING:
    from tracereplay.context import AppContext
    from tracereplay.evals.service import EvaluatorView
    from tracereplay.pricing.overrides import PriceOverride
    from tracereplay.prompts.service import PromptVersionView
    from tracereplay.replay.service import ReplayView

app = typer.Typer(
    help="tracereplay: LLM observability with whole-trace replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
traces_app = typer.Typer(help="Browse stored traces.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")
app.add_typer(keys_app, name="keys")
replays_app = typer.Typer(help="A trace's replays.", no_args_is_help=True)
app.add_typer(replays_app, name="replays")
prices_app = typer.Typer(help="A project's own model prices (US $ per million tokens).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")
projects_app = typer.Typer(help="Projects: each has its own traces, keys and prices.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
prompts_app = typer.Typer(help="Prompt templates: immutable versions and labels.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
users_app = typer.Typer(help="Dashboard users (sign-in off a loopback address).", no_args_is_help=True)
app.add_typer(users_app, name="users")

# Piped output keeps whole lines (trace ids) instead of wrapping at an assumed 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project name (default: the first project).")
]


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"TRACEREPLAY_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
            for problem in exc.errors()
        )
        raise TraceReplayError(
            f"invalid setting: {problems}; see the configuration table in README.md"
        ) from exc
    except SettingsError as exc:
        raise TraceReplayError(f"invalid setting: {exc}; see the configuration table in README.md") from exc


def _announce_key(first: projects.Bootstrap, out: Console) -> None:
    """The key a first start created: shown once, here, or never."""
    if first.created_key:
        out.print(f"  project [bold]{escape(first.project)}[/] created; API key (shown once):")
        out.print(f"  [bold green]{first.created_key}[/]")
        out.print(f'  OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {first.created_key}"')


def _context(settings: Settings | None = None) -> AppContext:
    """The context a command works in; use it as `with _context() as ctx:`."""
    from tracereplay.context import AppContext

    ctx = AppContext.open(settings or _settings())
    try:
        # Any command may be the first to touch a new database (`make demo` runs `demo` first).
        _announce_key(ctx.bootstrap(), err)
    except BaseException:
        ctx.close()
        raise
    return ctx


def _project_rowid(ctx: AppContext, name: str | None) -> int:
    """The row id of the project named by --project, or of the first project."""
    return projects.find_project(ctx.sessions, name or None).project_rowid


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

    settings = _settings(host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ctx = AppContext.open(settings)  # the app's lifespan closes it
    application = create_app(settings, run_worker=worker, ctx=ctx)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]tracereplay {__version__}[/] on {base}  (API docs: {base}/docs)")
    console.print(f"  database: {ctx.engine.url.render_as_string(hide_password=True)}")
    console.print(f"  OTLP endpoint: OTEL_EXPORTER_OTLP_ENDPOINT={base}")
    _announce_key(ctx.bootstrap(), console)
    tune_gc()
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once (TRACEREPLAY_WORKER_CONCURRENCY, default 3).")
    ] = None,
) -> None:
    """Run a job worker process (use with TRACEREPLAY_QUEUE_URL=redis://…)."""
    settings = _settings(worker_concurrency=concurrency)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    with _context(settings) as ctx:
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
    with _context() as ctx:
        stored, rejected = _import(ctx, _project_rowid(ctx, project), path)
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
    with _context() as ctx:
        page = list_traces(
            ctx.sessions,
            _project_rowid(ctx, project),
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

    with _context() as ctx:
        detail = get_trace(ctx.sessions, _project_rowid(ctx, project), trace_id, ctx.settings.retention_days)
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


@keys_app.command("create")
def keys_create(
    project: ProjectOption = None,
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli",
) -> None:
    """Create an API key (printed once; only its hash is stored)."""
    with _context() as ctx:
        created = projects.create_key(ctx.sessions, project, name)
    console.print(f"API key for project {created.info.project} (id {created.info.id}), shown once:")
    console.print(created.key)


@keys_app.command("list")
def keys_list(project: ProjectOption = None) -> None:
    """List API keys (prefix only)."""
    with _context() as ctx:
        keys = projects.list_keys(ctx.sessions, project)
    table = Table("id", "project", "name", "prefix", "created", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.project,
            key.name,
            key.prefix + "…",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key by id."""
    with _context() as ctx:
        info = projects.revoke_key(ctx.sessions, key_id)
    console.print(f"revoked key {info.id} ({info.prefix}…) of project {info.project}")


def _parameter(text: str, option: str = "--param") -> tuple[str, object]:
    """`name=value`: the value read as JSON (0.2, 200, true, null, "text"), else as a string."""
    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise TraceReplayError(f"{option} {text!r}: write it as name=value, e.g. {option} temperature=0")
    try:
        return name.strip(), orjson.loads(raw)
    except orjson.JSONDecodeError:
        return name.strip(), raw


def _replay_line(replay: ReplayView) -> str:
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

    with _context() as ctx:
        rowid = _project_rowid(ctx, project)
        version_id = _prompt_version_id(ctx, rowid, prompt_version) if prompt_version else None
        parameters = dict(_parameter(p) for p in param or []) or None
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
    console.print(_replay_line(finished))
    if document is not None:
        _print_comparison(document)  # the same summary as `tracereplay compare --replay`
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


@app.command()
def demo(project: ProjectOption = None) -> None:
    """Record demo traces (a small weather agent) with the local model, ready to replay."""
    from tracereplay.demo import record_demo_traces

    with _context() as ctx, err.status("running the demo agent on the local model (gemma-3-270m)…"):
        trace_ids = record_demo_traces(ctx, _project_rowid(ctx, project))
    console.print(f"recorded {len(trace_ids)} demo traces:")
    for trace_id in trace_ids:
        console.print(f"  {trace_id}")
    console.print(f"replay one: tracereplay replay {trace_ids[0]} --param temperature=0 --wait")
    console.print(
        f"or with version 2 of its prompt: tracereplay replay {trace_ids[0]} "
        "--prompt-version weather-agent:2 --wait"
    )


@app.command()
def models(project: ProjectOption = None) -> None:
    """Models a replay can use now, with their prices."""
    from tracereplay.providers.catalog import model_catalog

    with _context() as ctx:
        catalog = model_catalog(ctx.providers, ctx.prices.book(_project_rowid(ctx, project)))
    table = Table("model", "input $/Mtok", "output $/Mtok", "price from")
    for entry in catalog:
        table.add_row(
            entry.reference,
            "unknown" if entry.input_per_mtok is None else f"{entry.input_per_mtok:g}",
            "unknown" if entry.output_per_mtok is None else f"{entry.output_per_mtok:g}",
            entry.price_source or "",
        )
    console.print(table)


def _print_prices(overrides: list[PriceOverride]) -> None:
    table = Table("id", "model pattern", "input $/Mtok", "output $/Mtok", "updated")
    for override in overrides:
        table.add_row(
            str(override.id),
            override.model_pattern,
            f"{override.input_per_mtok:g}",
            f"{override.output_per_mtok:g}",
            override.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@prices_app.command("list")
def prices_list(project: ProjectOption = None) -> None:
    """The project's price overrides."""
    from tracereplay.pricing.overrides import list_price_overrides

    with _context() as ctx:
        _print_prices(list_price_overrides(ctx.sessions, _project_rowid(ctx, project)))


@prices_app.command("set")
def prices_set(
    model_pattern: Annotated[
        str, typer.Argument(help='A model name, provider:model, or pattern ("gpt-4o*").')
    ],
    input_price: Annotated[float, typer.Option("--input", help="US $ per million input tokens.")],
    output_price: Annotated[float, typer.Option("--output", help="US $ per million output tokens.")],
    project: ProjectOption = None,
) -> None:
    """Set the price of the models matching MODEL_PATTERN (replaces an earlier one)."""
    from tracereplay.pricing.overrides import set_price_override

    with _context() as ctx:
        override, created = set_price_override(
            ctx.sessions, ctx.prices, _project_rowid(ctx, project), model_pattern, input_price, output_price
        )
    console.print(f"{'set' if created else 'replaced'} price {override.id}:")
    _print_prices([override])


@prices_app.command("delete")
def prices_delete(override_id: int, project: ProjectOption = None) -> None:
    """Remove a price override by id."""
    from tracereplay.pricing.overrides import delete_price_override

    with _context() as ctx:
        removed = delete_price_override(ctx.sessions, ctx.prices, _project_rowid(ctx, project), override_id)
    console.print(f"removed price {removed.id} ({removed.model_pattern})")


@replays_app.command("list")
def replays_list(trace_id: str, project: ProjectOption = None) -> None:
    """A trace's replays, newest first."""
    from tracereplay.replay.service import list_replays

    with _context() as ctx:
        replays = list_replays(
            ctx.sessions, _project_rowid(ctx, project), trace_id, ctx.settings.retention_days
        )
    for item in replays:
        overrides = orjson.dumps(item.overrides).decode()
        console.print(f"{item.created_at:%Y-%m-%d %H:%M:%S}  {_replay_line(item)}  {escape(overrides)}")


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="The project's name (unique).")],
) -> None:
    """Create a project and its first API key (printed once; only its hash is stored)."""
    with _context() as ctx:
        created = projects.create_project(ctx.sessions, name)
    console.print(
        f"project {escape(created.info.project)} created; API key (id {created.info.id}), shown once:"
    )
    console.print(created.key)
    console.print(f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {created.key}"')


@projects_app.command("list")
def projects_list() -> None:
    """List projects with their number of active API keys."""
    with _context() as ctx:
        found = projects.list_projects(ctx.sessions)
    table = Table("project", "created", "active keys")
    for project in found:
        table.add_row(escape(project.name), project.created_at.strftime("%Y-%m-%d %H:%M"), str(project.keys))
    console.print(table)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="The name they sign in with.")],
    project: Annotated[list[str], typer.Option("--project", help="A project they may see (repeatable).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a dashboard user; the password is asked for (or read from stdin) and stored hashed."""
    from tracereplay.projects.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _context() as ctx:
        user = create_user(ctx.sessions, username, password, project)
    console.print(f"user {escape(user.username)} created; projects: {escape(', '.join(user.projects))}")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List dashboard users and their projects."""
    from tracereplay.projects.users import list_users

    with _context() as ctx:
        users = list_users(ctx.sessions)
    if as_json:
        rows = [{"username": u.username, "projects": u.projects, "created_at": u.created_at} for u in users]
        console.print_json(orjson.dumps(rows).decode())
        return
    table = Table("user", "projects", "created")
    for user in users:
        projects_ = escape(", ".join(user.projects))
        table.add_row(escape(user.username), projects_, f"{user.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@users_app.command("delete")
def users_delete(username: Annotated[str, typer.Argument(help="The user to delete.")]) -> None:
    """Delete a dashboard user (their sessions end at their next request)."""
    from tracereplay.projects.users import delete_user

    with _context() as ctx:
        delete_user(ctx.sessions, username)
    console.print(f"user {escape(username)} deleted")


def _print_version(version: PromptVersionView) -> None:
    labels = ", ".join(version.labels) or "no label"
    console.print(f"[bold]{escape(version.name)}[/] version {version.version} ({version.type}, {labels})  "
                  f"id {version.version_id}")  # fmt: skip
    if version.commit_message:
        console.print(f"  {escape(version.commit_message)}")
    needed = version.variables
    if needed.names:
        text, placeholders = ", ".join(needed.text) or "-", ", ".join(needed.placeholders) or "-"
        console.print(f"  variables: {text}; placeholders: {placeholders}")
    if version.config:
        console.print(f"  config: {escape(orjson.dumps(version.config).decode())}")
    _print_prompt(version.prompt)


def _print_prompt(prompt: object) -> None:
    if isinstance(prompt, str):
        console.print(escape(prompt))
        return
    for message in prompt if isinstance(prompt, list) else []:
        if message.get("type") == "placeholder":
            console.print(f"[cyan]\\[placeholder: {escape(message['name'])}][/]")
        else:
            console.print(
                f"[cyan]\\[{escape(str(message.get('role')))}][/] {escape(str(message.get('content')))}"
            )


@prompts_app.command("list")
def prompts_list(project: ProjectOption = None) -> None:
    """The project's prompts with their latest version and labels."""
    from tracereplay.prompts.service import list_prompts

    with _context() as ctx:
        found = list_prompts(ctx.sessions, _project_rowid(ctx, project))
    table = Table("prompt", "type", "latest", "labels", "updated")
    for prompt in found:
        labels = ", ".join(f"{label}→{version}" for label, version in prompt.labels.items())
        table.add_row(escape(prompt.name), prompt.type, str(prompt.latest_version), escape(labels),
                      prompt.updated_at.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    console.print(table)


@prompts_app.command("show")
def prompts_show(
    name: str,
    version: Annotated[int | None, typer.Option(help="A version number.")] = None,
    label: Annotated[str | None, typer.Option(help="A label, e.g. production.")] = None,
    project: ProjectOption = None,
) -> None:
    """One version of a prompt (the latest unless --version or --label)."""
    from tracereplay.prompts.service import get_version

    with _context() as ctx:
        found = get_version(ctx.sessions, _project_rowid(ctx, project), name, version=version, label=label)
    _print_version(found)


@prompts_app.command("create")
def prompts_create(
    name: str,
    file: Annotated[
        Path,
        typer.Option("--file", "-f", exists=True, dir_okay=False, help="The prompt: text, or JSON messages."),
    ],
    chat: Annotated[bool, typer.Option("--chat", help="FILE holds a JSON list of chat messages.")] = False,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Move this label to it (repeatable).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="What changed.")] = None,
    config: Annotated[
        str | None, typer.Option(help='JSON config, e.g. \'{"model": "gpt-4o-mini"}\'.')
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create the next version of prompt NAME (version 1 creates it)."""
    from tracereplay.prompts.service import create_version

    text = file.read_text(encoding="utf-8")
    prompt: object = text
    try:
        if chat:
            prompt = orjson.loads(text)
        settings = orjson.loads(config) if config else None
    except orjson.JSONDecodeError as exc:
        raise TraceReplayError(
            f"{'--config' if not chat or config else file}: not valid JSON ({exc})"
        ) from exc
    with _context() as ctx:
        created = create_version(
            ctx.sessions, _project_rowid(ctx, project), name, "chat" if chat else "text", prompt,
            config=settings, commit_message=message, labels=label,
        )  # fmt: skip
    _print_version(created)


@prompts_app.command("import")
def prompts_import(trace_id: str, span_id: str, name: str, project: ProjectOption = None) -> None:
    """Store the template span SPAN_ID of TRACE_ID recorded inline as the next version of NAME."""
    from tracereplay.prompts.service import import_span_template
    from tracereplay.traces.queries import get_span

    with _context() as ctx:
        rowid = _project_rowid(ctx, project)
        span, _ = get_span(ctx.sessions, rowid, trace_id, span_id, ctx.settings.retention_days)
        version = import_span_template(ctx.sessions, rowid, name, span, f"span {span_id} of trace {trace_id}")
    _print_version(version)


def _json_option(text: str, what: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TraceReplayError(f"{what}: not valid JSON ({exc})") from exc


@prompts_app.command("label")
def prompts_label(name: str, label: str, version: int, project: ProjectOption = None) -> None:
    """Move LABEL of prompt NAME to VERSION."""
    from tracereplay.prompts.service import set_label

    with _context() as ctx:
        moved = set_label(ctx.sessions, _project_rowid(ctx, project), name, label, version)
    console.print(f"{escape(label)} -> {escape(name)} version {moved.version}")


@prompts_app.command("render")
def prompts_render(
    name: str,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="name=value, the value read as JSON or else as text.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="A version number (default: the latest).")] = None,
    label: Annotated[str | None, typer.Option(help="A label, e.g. production.")] = None,
    project: ProjectOption = None,
) -> None:
    """Render a version of prompt NAME with variables."""
    from tracereplay.prompts.service import get_version

    values = dict(_parameter(item, "--var") for item in var or [])
    with _context() as ctx:
        found = get_version(ctx.sessions, _project_rowid(ctx, project), name, version=version, label=label)
    _print_prompt(found.render(values))


@prompts_app.command("diff")
def prompts_diff(name: str, base: int, target: int, project: ProjectOption = None) -> None:
    """How version TARGET of prompt NAME differs from version BASE."""
    from tracereplay.prompts.service import diff_versions

    with _context() as ctx:
        changes = diff_versions(ctx.sessions, _project_rowid(ctx, project), name, base, target)
    for line in changes["body"]:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "default"
        console.print(f"[{style}]{escape(line)}[/]")
    for kind, values in changes["config"].items():
        for key, value in values.items():
            console.print(f"config {kind}: {escape(key)} = {escape(orjson.dumps(value).decode())}")


def main() -> None:
    try:
        app()
    except TraceReplayError as exc:
        err.print(f"[red]error:[/] {escape(exc.message)}")
        raise SystemExit(1) from None


evaluators_app = typer.Typer(help="Evaluators: what scores replays and traffic.", no_args_is_help=True)
app.add_typer(evaluators_app, name="evaluators")


def _print_evaluators(found: list[EvaluatorView]) -> None:
    table = Table("evaluator", "type", "config", "version", "enabled", "target", "sampled")
    for evaluator in found:
        table.add_row(
            escape(evaluator.name), evaluator.type, escape(orjson.dumps(evaluator.config).decode()),
            str(evaluator.config_version), "yes" if evaluator.enabled else "no", evaluator.target,
            f"{evaluator.sampling_rate:.0%}",
        )  # fmt: skip
    console.print(table)


@evaluators_app.command("list")
def evaluators_list(project: ProjectOption = None) -> None:
    """The project's evaluators."""
    from tracereplay.evals.service import list_evaluators

    with _context() as ctx:
        found = list_evaluators(ctx.sessions, _project_rowid(ctx, project))
    _print_evaluators(found)


@evaluators_app.command("types")
def evaluators_types() -> None:
    """The evaluator types and what each checks."""
    from tracereplay.evals.service import evaluator_types

    table = Table("type", "checks", "compares with the original")
    for name, kind in sorted(evaluator_types().items()):
        table.add_row(name, escape(kind.description), "yes" if kind.needs_original else "")
    console.print(table)


@evaluators_app.command("create")
def evaluators_create(
    name: str,
    type_name: Annotated[
        str, typer.Option("--type", help="An evaluator type (`tracereplay evaluators types`).")
    ],
    config: Annotated[str, typer.Option(help="JSON config, e.g. '{\"max_ms\": 2000}'.")] = "{}",
    target: Annotated[str, typer.Option(help='"replays" or "all" (new traces).')] = "replays",
    sampling_rate: Annotated[float, typer.Option(help="Fraction of traces scored.")] = 1.0,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
    project: ProjectOption = None,
) -> None:
    """Create evaluator NAME."""
    from tracereplay.evals.service import create_evaluator

    settings = _json_option(config, "--config")
    with _context() as ctx:
        created = create_evaluator(
            ctx.sessions, _project_rowid(ctx, project), name, type_name, settings,
            enabled=not disabled, target=target, sampling_rate=sampling_rate,
        )  # fmt: skip
    _print_evaluators([created])


@evaluators_app.command("set")
def evaluators_set(
    name: str,
    config: Annotated[str | None, typer.Option(help="New JSON config (a new configuration version).")] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Switch it on or off.")] = None,
    project: ProjectOption = None,
) -> None:
    """Change evaluator NAME."""
    from tracereplay.evals.service import UNSET, update_evaluator

    settings = _json_option(config, "--config") if config is not None else UNSET
    with _context() as ctx:
        changed = update_evaluator(
            ctx.sessions, _project_rowid(ctx, project), name, config=settings,
            enabled=UNSET if enabled is None else enabled,
        )  # fmt: skip
    _print_evaluators([changed])


@evaluators_app.command("delete")
def evaluators_delete(name: str, project: ProjectOption = None) -> None:
    """Remove evaluator NAME."""
    from tracereplay.evals.service import delete_evaluator

    with _context() as ctx:
        delete_evaluator(ctx.sessions, _project_rowid(ctx, project), name)
    console.print(f"evaluator {escape(name)} removed")


@app.command()
def evaluate(
    trace_ids: Annotated[list[str], typer.Argument(help="Traces to score.")],
    evaluator: Annotated[
        list[str] | None,
        typer.Option("--evaluator", "-e", help="An evaluator (repeatable); default: every enabled one."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Score traces now with the project's evaluators, and print their scores."""
    from tracereplay.evals.pipeline import EvalServices
    from tracereplay.evals.traffic import evaluate_traces
    from tracereplay.traces.scores import trace_scores

    with _context() as ctx:
        rowid = _project_rowid(ctx, project)
        services = EvalServices(ctx.providers, ctx.ingest)
        stored = evaluate_traces(ctx.sessions, rowid, trace_ids, evaluator or [], services)
        scores = {trace_id: trace_scores(ctx.sessions, rowid, trace_id) for trace_id in trace_ids}
    console.print(f"{stored} new score{'s' if stored != 1 else ''}")
    table = Table("trace", "score", "value", "version", "reasoning")
    for trace_id, found in scores.items():
        for score in found:
            value = "error" if score.error else score.label or _score_value(score.data_type, score.value)
            reasoning = score.error or score.reasoning or ""
            table.add_row(
                trace_id, escape(score.name), value, str(score.config_version or ""), escape(reasoning)
            )
    console.print(table)


def _score_value(data_type: str, value: float | None) -> str:
    if value is None:
        return ""
    if data_type == "boolean":
        return "pass" if value == 1.0 else "fail"
    return f"{value:.3f}"


VERDICT_STYLES = {"better": "green", "worse": "red", "same": "dim", "changed": "yellow", "unknown": "dim",
                  "missing": "dim", "error": "red"}  # fmt: skip


def _print_comparison(document: dict[str, object]) -> None:
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
    with _context() as ctx:
        rowid, retention = _project_rowid(ctx, project), ctx.settings.retention_days
        if replay_id is not None:
            document = compare_replay(ctx.sessions, rowid, replay_id, retention)
        else:
            document = compare_traces(ctx.sessions, rowid, str(base), str(target), retention)
    if output_format == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output_format == "markdown":
        sys.stdout.write(markdown(document) + "\n")
    else:
        _print_comparison(document)
