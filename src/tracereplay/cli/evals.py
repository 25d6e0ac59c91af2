"""`evaluators …` and `evaluate`: what scores replays and traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tracereplay.errors import TraceReplayError

if TYPE_CHECKING:
    from tracereplay.evals.service import EvaluatorView

from tracereplay.cli._common import (
    ProjectOption,
    app,
    console,
    open_context,
    project_rowid,
)
from tracereplay.cli.traces import score_value

evaluators_app = typer.Typer(help="Evaluators: what scores replays and traffic.", no_args_is_help=True)
app.add_typer(evaluators_app, name="evaluators")


def _json_option(text: str, what: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TraceReplayError(f"{what}: not valid JSON ({exc})") from exc


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

    with open_context() as ctx:
        found = list_evaluators(ctx.sessions, project_rowid(ctx, project))
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
    with open_context() as ctx:
        created = create_evaluator(
            ctx.sessions, project_rowid(ctx, project), name, type_name, settings,
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
    with open_context() as ctx:
        changed = update_evaluator(
            ctx.sessions, project_rowid(ctx, project), name, config=settings,
            enabled=UNSET if enabled is None else enabled,
        )  # fmt: skip
    _print_evaluators([changed])


@evaluators_app.command("delete")
def evaluators_delete(name: str, project: ProjectOption = None) -> None:
    """Remove evaluator NAME."""
    from tracereplay.evals.service import delete_evaluator

    with open_context() as ctx:
        delete_evaluator(ctx.sessions, project_rowid(ctx, project), name)
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

    with open_context() as ctx:
        rowid = project_rowid(ctx, project)
        services = EvalServices(ctx.providers, ctx.ingest)
        stored = evaluate_traces(ctx.sessions, rowid, trace_ids, evaluator or [], services)
        scores = {trace_id: trace_scores(ctx.sessions, rowid, trace_id) for trace_id in trace_ids}
    console.print(f"{stored} new score{'s' if stored != 1 else ''}")
    table = Table("trace", "score", "value", "version", "reasoning")
    for trace_id, found in scores.items():
        for score in found:
            value = "error" if score.error else score.label or score_value(score.data_type, score.value)
            reasoning = score.error or score.reasoning or ""
            table.add_row(
                trace_id, escape(score.name), value, str(score.config_version or ""), escape(reasoning)
            )
    console.print(table)
