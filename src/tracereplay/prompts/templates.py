"""Prompt template bodies as the server sees them: validation, rendering with errors the API
answers, and version diffs.

The template language itself (variables, placeholders, rendering) is `tracereplay_sdk.templates`,
shared with the SDK so that an app and a replay render a version to the very same messages.
Pure functions over plain data, no I/O.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import orjson

from tracereplay.errors import Unprocessable
from tracereplay.jsontext import json_dumps
from tracereplay_sdk.templates import (
    VARIABLE_NAME,
    PromptType,
    Rendered,
    TemplateError,
    Variables,
    is_placeholder,
    segments,
    variables,
)
from tracereplay_sdk.templates import render as render_template

__all__ = ["PromptType", "Variables", "check_body", "check_config", "diff", "render", "segments", "variables"]

MAX_BODY_CHARACTERS = 200_000


def check_body(prompt_type: str, body: Any) -> None:
    """A body of `prompt_type` as the API accepts it, or Unprocessable saying what is wrong."""
    if prompt_type == "text":
        if not isinstance(body, str) or not body:
            raise Unprocessable("a text prompt is a non-empty string")
        size = len(body)
    elif prompt_type == "chat":
        if not isinstance(body, list) or not body:
            raise Unprocessable(
                'a chat prompt is a non-empty list of messages {"role": …, "content": …} and '
                'placeholders {"type": "placeholder", "name": …}'
            )
        problems = [
            problem for index, message in enumerate(body) if (problem := _message_problem(index, message))
        ]
        if problems:
            raise Unprocessable("invalid chat prompt: " + "; ".join(problems), details=problems)
        size = len(_json("the prompt", body))
    else:
        raise Unprocessable(f'prompt type must be "text" or "chat", not {prompt_type!r}')
    if size > MAX_BODY_CHARACTERS:
        raise Unprocessable(f"a prompt is at most {MAX_BODY_CHARACTERS} characters, this one has {size}")
    if "\x00" in (body if isinstance(body, str) else _json("the prompt", body)):
        raise Unprocessable("a prompt cannot contain NUL characters (\\u0000)")


def check_config(config: Any) -> None:
    """A version's config: an object whose `model`, if given, is a name; every other key is a
    model parameter, checked when a replay uses it."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise Unprocessable('a prompt config is an object, e.g. {"model": "gpt-4o-mini", "temperature": 0.2}')
    if "model" in config and (not isinstance(config["model"], str) or not config["model"].strip()):
        raise Unprocessable("config.model must be a model name, e.g. gpt-4o-mini or openai:gpt-4o-mini")
    if "\x00" in _json("the config", config):
        raise Unprocessable("a prompt config cannot contain NUL characters (\\u0000)")


def _json(what: str, value: Any) -> str:
    try:
        return json_dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise Unprocessable(f"{what} cannot be stored as JSON: {exc}") from exc


def _message_problem(index: int, message: Any) -> str | None:
    if not isinstance(message, dict):
        return f"message {index} is not an object"
    if is_placeholder(message):
        name = message.get("name")
        if not isinstance(name, str) or not re.fullmatch(VARIABLE_NAME, name):
            return f"placeholder {index} needs a variable name (letters, digits, _ . -; not a digit first)"
        return None
    if not isinstance(message.get("role"), str) or not message["role"]:
        return f"message {index} has no role"
    if not isinstance(message.get("content"), str):
        return f"message {index} ({message['role']}) needs text content"
    return None


def render(prompt_type: str, body: Any, values: dict[str, Any]) -> Rendered:
    """The body with every variable filled in; Unprocessable naming the variables missing or
    of the wrong kind."""
    try:
        return render_template(prompt_type, body, values)
    except TemplateError as exc:
        details = {"missing_variables": exc.missing} if exc.missing else {"invalid_variables": exc.invalid}
        raise Unprocessable(str(exc), details=details) from exc


def _lines(prompt_type: str, body: Any) -> list[str]:
    if prompt_type == "text":
        return str(body).splitlines()
    lines = []
    for message in body:
        if is_placeholder(message):
            lines.append(f"[placeholder: {message['name']}]")
        else:
            lines.append(f"[{message['role']}]")
            lines += message["content"].splitlines()
    return lines


def diff(
    base: tuple[str, Any, dict[str, Any] | None], target: tuple[str, Any, dict[str, Any] | None]
) -> dict[str, Any]:
    """How `target` (type, body, config) differs from `base`: a unified diff of the bodies,
    line by line (a chat message starts with its `[role]` line), and the config keys added,
    removed and changed."""
    (base_type, base_body, base_config), (target_type, target_body, target_config) = base, target
    lines = list(
        difflib.unified_diff(
            _lines(base_type, base_body), _lines(target_type, target_body), "base", "target", lineterm=""
        )
    )
    before, after = base_config or {}, target_config or {}
    return {
        "body": lines,
        "config": {
            "added": {key: after[key] for key in after.keys() - before.keys()},
            "removed": {key: before[key] for key in before.keys() - after.keys()},
            "changed": {
                key: {"base": before[key], "target": after[key]}
                for key in before.keys() & after.keys()
                if before[key] != after[key]
            },
        },
    }
