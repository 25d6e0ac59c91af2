"""Docs as tests: every setting, CLI command and API route is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import typer.main

import tracereplay_sdk
from tracereplay.api.app import create_app
from tracereplay.cli import app as cli_app
from tracereplay.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


def test_every_setting_is_documented() -> None:
    missing = [f"TRACEREPLAY_{name.upper()}" for name in Settings.model_fields
               if f"TRACEREPLAY_{name.upper()}" not in DOCS]  # fmt: skip
    assert not missing, f"undocumented settings: {missing}"


def test_every_cli_command_is_documented() -> None:
    group = typer.main.get_command(cli_app)
    commands: list[str] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        commands += [f"tracereplay {name} {s}" for s in sub] if sub else [f"tracereplay {name}"]
    missing = [c for c in commands if c not in DOCS]
    assert not missing, f"undocumented CLI commands: {missing}"


def test_every_api_route_is_documented(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    documented = set(re.findall(r"`(?:GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", DOCS))
    routes = {path for path in app.openapi()["paths"] if path.startswith(("/api/", "/v1/"))}
    missing = sorted(routes - documented)
    assert not missing, f"undocumented routes: {missing}"


def test_every_sdk_name_and_init_argument_is_documented() -> None:
    sdk = (ROOT / "docs" / "sdk.md").read_text()
    names = [name for name in tracereplay_sdk.__all__ if not re.search(rf"`{name}\b", sdk)]
    arguments = [
        name for name in inspect.signature(tracereplay_sdk.init).parameters if f"`{name}`" not in sdk
    ]
    assert not names and not arguments, f"undocumented in docs/sdk.md: {names + arguments}"
