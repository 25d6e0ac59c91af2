"""The `tracereplay` command: serve, worker, import, traces, replays, compare, prompts,
evaluators, projects, keys, users, prices.

Commands parse arguments, call one service function, and print the view it returns; they
work on the database named by the same settings as the server (`TRACEREPLAY_*`). Each opens
its context in a `with` block: what it started (a writer, the queue) stops when it ends, and
a command that only reads starts none of it. One module per group of commands; importing
them registers their commands on `app`.
"""

from rich.markup import escape

# Importing a module registers its commands, in this order in `--help`.
# isort: off
from tracereplay.cli import server, traces, replays, prompts, evals, admin

# isort: on
from tracereplay.cli._common import app, err
from tracereplay.errors import TraceReplayError

__all__ = ["admin", "app", "evals", "main", "prompts", "replays", "server", "traces"]


def main() -> None:
    try:
        app()
    except TraceReplayError as exc:
        err.print(f"[red]error:[/] {escape(exc.message)}")
        raise SystemExit(1) from None
