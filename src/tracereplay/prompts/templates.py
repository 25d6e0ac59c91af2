"""Prompt template bodies: validation, the variables they need, rendering, and version diffs.

Pure functions over plain data, no I/O. A **text** body is a string; a **chat** body is a list
of messages `{"role", "content"}` and placeholder messages `{"type": "placeholder", "name"}`,
which expand a variable holding a list of messages (a chat history). `{{variable}}` in a text
body or a message's content is replaced by the variable's value: a string as it is, anything
else as JSON. Nothing else is interpreted: a template is data, never code.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from tracereplay.errors import Unprocessable
from tracereplay.jsontext import json_dumps

PromptType = Literal["text", "chat"]
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
VARIABLE = re.compile(r"\{\{\s*(" + VARIABLE_NAME + r")\s*\}\}")
MAX_BODY_CHARACTERS = 200_000


@dataclass(frozen=True)
class Variables:
    """What a version needs to render: text variables, and placeholders (lists of messages)."""

    text: list[str]
    placeholders: list[str]

    @property
    def names(self) -> list[str]:
        return [*self.text, *self.placeholders]


def is_placeholder(message: dict[str, Any]) -> bool:
    return message.get("type") == "placeholder"


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


def variables(prompt_type: str, body: Any) -> Variables:
    """The variables a body uses, each once, in order of first use."""
    texts = [body] if prompt_type == "text" else [m["content"] for m in body if not is_placeholder(m)]
    names = dict.fromkeys(match.group(1) for text in texts for match in VARIABLE.finditer(text))
    placeholders = [] if prompt_type == "text" else [m["name"] for m in body if is_placeholder(m)]
    return Variables(list(names), list(dict.fromkeys(placeholders)))


def _substitute(text: str, values: dict[str, Any]) -> str:
    def value_of(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return value if isinstance(value, str) else _json(f"variable {match.group(1)}", value)

    return VARIABLE.sub(value_of, text)


def render(prompt_type: str, body: Any, values: dict[str, Any]) -> str | list[dict[str, Any]]:
    """The body with every variable filled in; Unprocessable naming the variables missing or
    of the wrong kind."""
    needed = variables(prompt_type, body)
    missing = [name for name in needed.names if name not in values]
    if missing:
        raise Unprocessable(
            f"missing variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            details={"missing_variables": missing},
        )
    not_messages = [
        name
        for name in needed.placeholders
        if not isinstance(values[name], list)
        or not all(isinstance(m, dict) and "role" in m for m in values[name])
    ]
    if not_messages:
        raise Unprocessable(
            f"placeholder variable{'s' if len(not_messages) > 1 else ''} {', '.join(not_messages)} "
            'must be a list of messages ({"role": …, "content": …})',
            details={"invalid_variables": not_messages},
        )
    if prompt_type == "text":
        return _substitute(body, values)
    return [message for _, messages in segments(body, values) for message in messages]


def segments(
    body: list[dict[str, Any]], values: dict[str, Any]
) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """A chat body rendered piece by piece: (None, [message]) for each message, (name, the
    variable's messages) for each placeholder. `render` checks the variables first."""
    pieces: list[tuple[str | None, list[dict[str, Any]]]] = []
    for message in body:
        if is_placeholder(message):
            pieces.append((message["name"], [dict(item) for item in values[message["name"]]]))
        else:
            pieces.append((None, [{**message, "content": _substitute(message["content"], values)}]))
    return pieces


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
