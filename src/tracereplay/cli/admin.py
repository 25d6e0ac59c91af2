"""`projects`, `keys`, `users` and `prices`: who may send and see what, and at what price."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tracereplay.projects import service as projects

if TYPE_CHECKING:
    from tracereplay.pricing.overrides import PriceOverride

from tracereplay.cli._common import (
    ProjectOption,
    app,
    console,
    open_context,
    project_rowid,
)

projects_app = typer.Typer(help="Projects: each has its own traces, keys and prices.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")


keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


users_app = typer.Typer(help="Dashboard users (sign-in off a loopback address).", no_args_is_help=True)
app.add_typer(users_app, name="users")


prices_app = typer.Typer(help="A project's own model prices (US $ per million tokens).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="The project's name (unique).")],
) -> None:
    """Create a project and its first API key (printed once; only its hash is stored)."""
    with open_context() as ctx:
        created = projects.create_project(ctx.sessions, name)
    console.print(
        f"project {escape(created.info.project)} created; API key (id {created.info.id}), shown once:"
    )
    console.print(created.key)
    console.print(f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {created.key}"')


@projects_app.command("list")
def projects_list() -> None:
    """List projects with their number of active API keys."""
    with open_context() as ctx:
        found = projects.list_projects(ctx.sessions)
    table = Table("project", "created", "active keys")
    for project in found:
        table.add_row(escape(project.name), project.created_at.strftime("%Y-%m-%d %H:%M"), str(project.keys))
    console.print(table)


@keys_app.command("create")
def keys_create(
    project: ProjectOption = None,
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli",
) -> None:
    """Create an API key (printed once; only its hash is stored)."""
    with open_context() as ctx:
        created = projects.create_key(ctx.sessions, project, name)
    console.print(f"API key for project {created.info.project} (id {created.info.id}), shown once:")
    console.print(created.key)


@keys_app.command("list")
def keys_list(project: ProjectOption = None) -> None:
    """List API keys (prefix only)."""
    with open_context() as ctx:
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
    with open_context() as ctx:
        info = projects.revoke_key(ctx.sessions, key_id)
    console.print(f"revoked key {info.id} ({info.prefix}…) of project {info.project}")


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
    with open_context() as ctx:
        user = create_user(ctx.sessions, username, password, project)
    console.print(f"user {escape(user.username)} created; projects: {escape(', '.join(user.projects))}")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List dashboard users and their projects."""
    from tracereplay.projects.users import list_users

    with open_context() as ctx:
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
    """Delete a dashboard user; their sessions end at once."""
    from tracereplay.projects.users import delete_user

    with open_context() as ctx:
        delete_user(ctx.sessions, username)
    console.print(f"user {escape(username)} deleted")


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

    with open_context() as ctx:
        _print_prices(list_price_overrides(ctx.sessions, project_rowid(ctx, project)))


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

    with open_context() as ctx:
        override, created = set_price_override(
            ctx.sessions, ctx.prices, project_rowid(ctx, project), model_pattern, input_price, output_price
        )
    console.print(f"{'set' if created else 'replaced'} price {override.id}:")
    _print_prices([override])


@prices_app.command("delete")
def prices_delete(override_id: int, project: ProjectOption = None) -> None:
    """Remove a price override by id."""
    from tracereplay.pricing.overrides import delete_price_override

    with open_context() as ctx:
        removed = delete_price_override(ctx.sessions, ctx.prices, project_rowid(ctx, project), override_id)
    console.print(f"removed price {removed.id} ({removed.model_pattern})")
