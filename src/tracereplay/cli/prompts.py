"""`prompts …`: prompt templates, their immutable versions and labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tracereplay.errors import TraceReplayError

if TYPE_CHECKING:
    from tracereplay.prompts.service import PromptVersionView

from tracereplay.cli._common import (
    ProjectOption,
    app,
    console,
    open_context,
    parse_parameter,
    project_rowid,
)

prompts_app = typer.Typer(help="Prompt templates: immutable versions and labels.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")


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

    with open_context() as ctx:
        found = list_prompts(ctx.sessions, project_rowid(ctx, project))
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

    with open_context() as ctx:
        found = get_version(ctx.sessions, project_rowid(ctx, project), name, version=version, label=label)
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
    with open_context() as ctx:
        created = create_version(
            ctx.sessions, project_rowid(ctx, project), name, "chat" if chat else "text", prompt,
            config=settings, commit_message=message, labels=label,
        )  # fmt: skip
    _print_version(created)


@prompts_app.command("import")
def prompts_import(trace_id: str, span_id: str, name: str, project: ProjectOption = None) -> None:
    """Store the template span SPAN_ID of TRACE_ID recorded inline as the next version of NAME."""
    from tracereplay.prompts.service import import_span_template
    from tracereplay.traces.queries import get_span

    with open_context() as ctx:
        rowid = project_rowid(ctx, project)
        span, _ = get_span(ctx.sessions, rowid, trace_id, span_id, ctx.settings.retention_days)
        version = import_span_template(ctx.sessions, rowid, name, span, f"span {span_id} of trace {trace_id}")
    _print_version(version)


@prompts_app.command("label")
def prompts_label(name: str, label: str, version: int, project: ProjectOption = None) -> None:
    """Move LABEL of prompt NAME to VERSION."""
    from tracereplay.prompts.service import set_label

    with open_context() as ctx:
        moved = set_label(ctx.sessions, project_rowid(ctx, project), name, label, version)
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

    values = dict(parse_parameter(item, "--var") for item in var or [])
    with open_context() as ctx:
        found = get_version(ctx.sessions, project_rowid(ctx, project), name, version=version, label=label)
    _print_prompt(found.render(values))


@prompts_app.command("diff")
def prompts_diff(name: str, base: int, target: int, project: ProjectOption = None) -> None:
    """How version TARGET of prompt NAME differs from version BASE."""
    from tracereplay.prompts.service import diff_versions

    with open_context() as ctx:
        changes = diff_versions(ctx.sessions, project_rowid(ctx, project), name, base, target)
    for line in changes["body"]:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "default"
        console.print(f"[{style}]{escape(line)}[/]")
    for kind, values in changes["config"].items():
        for key, value in values.items():
            console.print(f"config {kind}: {escape(key)} = {escape(orjson.dumps(value).decode())}")
