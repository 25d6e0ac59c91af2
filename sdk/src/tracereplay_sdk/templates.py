"""The prompt template language, shared by the SDK (rendering in the app) and the server
(rendering for a replay), so both render a version to the very same messages.

A **text** body is a string; a **chat** body is a list of messages `{"role", "content"}` and
placeholder messages `{"type": "placeholder", "name"}`, which expand a variable holding a list
of messages (a chat history). `{{variable}}` in a text body or a message's content is replaced
by the variable's value: a string as it is, anything else as compact JSON. Nothing else is
interpreted: a template is data, never code. Pure functions over plain data, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

PromptType = Literal["text", "chat"]
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
VARIABLE = re.compile(r"\{\{\s*(" + VARIABLE_NAME + r")\s*\}\}")

Rendered = str | list[dict[str, Any]]


class TemplateError(ValueError):
    """Variables that cannot render a version: `missing` names the absent ones, `invalid` the
    placeholder variables that are not lists of messages."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), invalid: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.invalid = list(invalid)


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


def variables(prompt_type: str, body: Any) -> Variables:
    """The variables a body uses, each once, in order of first use."""
    texts = [body] if prompt_type == "text" else [m["content"] for m in body if not is_placeholder(m)]
    names = dict.fromkeys(match.group(1) for text in texts for match in VARIABLE.finditer(text))
    placeholders = [] if prompt_type == "text" else [m["name"] for m in body if is_placeholder(m)]
    return Variables(list(names), list(dict.fromkeys(placeholders)))


# Integers JSON readers agree on: the server reads recorded variables with orjson (64 bits).
INTEGERS = range(-(2**63), 2**64)


def value_text(value: Any) -> str:
    """A variable's value as it appears in rendered text: a string as it is, else compact JSON.
    ValueError for what would not read back the same: NaN, infinities, integers beyond 64 bits."""
    if isinstance(value, str):
        return value
    _check_integers(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _check_integers(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value not in INTEGERS:
        raise ValueError(f"{value} is beyond 64-bit integers")
    if isinstance(value, dict):
        for item in value.values():
            _check_integers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_integers(item)


def _substitute(text: str, values: dict[str, Any]) -> str:
    return VARIABLE.sub(lambda match: value_text(values[match.group(1)]), text)


def check_values(prompt_type: str, body: Any, values: dict[str, Any]) -> None:
    """TemplateError naming the variables missing from `values` or of the wrong kind."""
    needed = variables(prompt_type, body)
    missing = [name for name in needed.names if name not in values]
    if missing:
        raise TemplateError(
            f"missing variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}", missing=missing
        )
    invalid = [
        name
        for name in needed.placeholders
        if not isinstance(values[name], list)
        or not all(isinstance(m, dict) and "role" in m for m in values[name])
    ]
    if invalid:
        raise TemplateError(
            f"placeholder variable{'s' if len(invalid) > 1 else ''} {', '.join(invalid)} "
            'must be a list of messages ({"role": …, "content": …})',
            invalid=invalid,
        )
    for name in needed.text:
        try:
            value_text(values[name])
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"variable {name} cannot be stored as JSON: {exc}", invalid=[name]) from exc


def render(prompt_type: str, body: Any, values: dict[str, Any]) -> Rendered:
    """The body with every variable filled in; TemplateError naming the variables missing or of
    the wrong kind."""
    check_values(prompt_type, body, values)
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
