"""What every command shares: the Typer app, the consoles, settings and the context a
command works in."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from tracereplay.config import Settings
from tracereplay.errors import TraceReplayError
from tracereplay.projects import service as projects

if TYPE_CHECKING:
    from tracereplay.context import AppContext


app = typer.Typer(
    help="tracereplay: LLM observability with whole-trace replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


err = Console(stderr=True, soft_wrap=True)


ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project name (default: the first project).")
]


def load_settings(**overrides: object) -> Settings:
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


def announce_key(first: projects.Bootstrap, out: Console) -> None:
    """The key a first start created: shown once, here, or never."""
    if first.created_key:
        out.print(f"  project [bold]{escape(first.project)}[/] created; API key (shown once):")
        out.print(f"  [bold green]{first.created_key}[/]")
        out.print(f'  OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {first.created_key}"')


def open_context(settings: Settings | None = None) -> AppContext:
    """The context a command works in; use it as `with open_context() as ctx:`."""
    from tracereplay.context import AppContext

    ctx = AppContext.open(settings or load_settings())
    try:
        # Any command may be the first to touch a new database (`make demo` runs `demo` first).
        announce_key(ctx.bootstrap(), err)
    except BaseException:
        ctx.close()
        raise
    return ctx


def project_rowid(ctx: AppContext, name: str | None) -> int:
    """The row id of the project named by --project, or of the first project."""
    return projects.find_project(ctx.sessions, name or None).project_rowid


def parse_parameter(text: str, option: str = "--param") -> tuple[str, object]:
    """`name=value`: the value read as JSON (0.2, 200, true, null, "text"), else as a string."""
    from tracereplay.replay.service import parameter_value

    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise TraceReplayError(f"{option} {text!r}: write it as name=value, e.g. {option} temperature=0")
    return name.strip(), parameter_value(raw)
