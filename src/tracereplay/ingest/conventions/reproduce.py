"""Which raw content attributes the normalised fields reproduce exactly, and may leave storage.

The flattened message and tool keys (`llm.input_messages.0.message.content`, the JSON of
`gen_ai.input.messages`, ...) restate an LLM span's normalised messages and tools; storing both
would double every LLM span. But a mapper may read only part of what a library wrote (LiteLLM
puts tool calls in `gen_ai.completion.0.function_call.*`). So each content form has a renderer,
the inverse of its reading: normalised fields -> the attributes that form would hold. A raw
key leaves storage only when the rendering holds it with the same value; anything else (a key
no mapper reads, a value read in part or in another shape) stays as sent.

What left storage can be put back (`restore`) for a mapper that has since learnt more: the
span keeps the forms that were rendered and the rendered keys the raw span did not have, so
the rendering minus those is exactly what was dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any, cast

from tracereplay.ingest.conventions import Attributes, NormalisedFields
from tracereplay.ingest.conventions.genai import parse_json

FORMS_KEY = "tracereplay.reproduced"  # the forms whose keys left storage
ABSENT_KEY = "tracereplay.reproduced.absent"  # rendered keys the raw span did not have

CONTENT_FIELDS = ("input_messages", "output_messages", "tools")  # what the content keys restate
Rendered = dict[str, Any]
Renderer = Callable[[NormalisedFields], Rendered]


def _messages(fields: NormalisedFields, name: str) -> list[dict[str, Any]]:
    return cast(dict[str, Any], fields).get(name) or []


def _openinference(fields: NormalisedFields) -> Rendered:
    rendered: Rendered = {}
    for field, prefix in (
        ("input_messages", "llm.input_messages."),
        ("output_messages", "llm.output_messages."),
    ):
        for index, message in enumerate(_messages(fields, field)):
            key = f"{prefix}{index}.message."
            for name in ("role", "content", "name", "tool_call_id"):
                if name in message:
                    rendered[key + name] = message[name]
            for position, part in enumerate(message.get("parts") or ()):
                part_key = f"{key}contents.{position}.message_content."
                if part.get("type") == "image" and set(part) <= {"type", "url", "detail"}:
                    rendered[part_key + "type"] = "image"
                    rendered[part_key + "image.image.url"] = part.get("url")
                else:
                    rendered.update((part_key + name, value) for name, value in part.items())
            for position, call in enumerate(message.get("tool_calls") or ()):
                call_key = f"{key}tool_calls.{position}.tool_call."
                for name, attribute in (
                    ("id", "id"),
                    ("name", "function.name"),
                    ("arguments", "function.arguments"),
                ):
                    if name in call:
                        rendered[call_key + attribute] = call[name]
    for index, tool in enumerate(fields.get("tools") or ()):
        rendered[f"llm.tools.{index}.tool.json_schema"] = tool
    return rendered


def _openllmetry(fields: NormalisedFields) -> Rendered:
    rendered: Rendered = {}
    for field, prefix in (("input_messages", "gen_ai.prompt."), ("output_messages", "gen_ai.completion.")):
        for index, message in enumerate(_messages(fields, field)):
            key = f"{prefix}{index}."
            for name in ("role", "content", "name", "tool_call_id", "finish_reason"):
                if name in message:
                    rendered[key + name] = message[name]
            if "parts" in message:
                rendered[key + "content"] = [_openai_part(part) for part in message["parts"]]
            for position, call in enumerate(message.get("tool_calls") or ()):
                rendered.update((f"{key}tool_calls.{position}.{name}", value) for name, value in call.items())
    for index, tool in enumerate(fields.get("tools") or ()):
        function = tool.get("function") or {}
        if tool.get("type") == "function" and set(function) <= {"name", "description", "parameters"}:
            rendered.update((f"llm.request.functions.{index}.{name}", v) for name, v in function.items())
    return rendered


def _openai_part(part: Mapping[str, Any]) -> Any:
    if part.get("type") == "text" and set(part) == {"type", "text"}:
        return dict(part)
    if part.get("type") == "image" and set(part) <= {"type", "url", "detail"}:
        image = {"url": part.get("url"), **({"detail": part["detail"]} if "detail" in part else {})}
        return {"type": "image_url", "image_url": image}
    return dict(part)


def _genai(fields: NormalisedFields) -> Rendered:
    """The structured form with any system prompt among the input messages."""
    rendered: Rendered = {
        "gen_ai.input.messages": [_semconv_message(m) for m in fields.get("input_messages") or ()]
    }
    if fields.get("output_messages"):
        rendered["gen_ai.output.messages"] = [_semconv_message(m) for m in fields["output_messages"]]
    if fields.get("tools"):
        rendered["gen_ai.tool.definitions"] = [_semconv_tool(tool) for tool in fields["tools"]]
    return rendered


def _semconv_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """The semconv's flat tool definition, where the tool has nothing the flat shape cannot say."""
    function = tool.get("function")
    if tool.get("type") == "function" and isinstance(function, dict) and set(tool) == {"type", "function"}:
        return {"type": "function", **function}
    return tool


def _genai_instructions(fields: NormalisedFields) -> Rendered:
    """The structured form with the leading system messages as `gen_ai.system_instructions`."""
    messages = list(fields.get("input_messages") or ())
    system = []
    while messages and messages[0].get("role") == "system":
        system.append(messages.pop(0))
    rendered = _genai({**fields, "input_messages": messages})
    rendered["gen_ai.system_instructions"] = [part for message in system for part in _semconv_parts(message)]
    return rendered


def _semconv_message(message: Mapping[str, Any]) -> dict[str, Any]:
    semconv: dict[str, Any] = {"role": message.get("role"), "parts": _semconv_parts(message)}
    if message.get("name"):
        semconv["name"] = message["name"]
    if message.get("finish_reason"):
        reason = message["finish_reason"]
        semconv["finish_reason"] = "tool_call" if reason == "tool_calls" else reason
    return semconv


def _semconv_parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    if message.get("role") == "tool":
        response: dict[str, Any] = {"type": "tool_call_response", "response": message.get("content", "")}
        if "tool_call_id" in message:
            response["id"] = message["tool_call_id"]
        return [response]
    parts: list[dict[str, Any]] = []
    if "content" in message:
        parts.append({"type": "text", "content": message["content"]})
    for part in message.get("parts") or ():
        if part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        elif part.get("type") == "reasoning":
            parts.append({"type": "reasoning", "content": part.get("text", "")})
        elif (
            set(part) == {"type", "url"}
            and str(part["url"]).startswith("data:")
            and ";base64," in part["url"]
        ):
            mime_type, data = part["url"][5:].split(";base64,", 1)
            parts.append({"type": "blob", "modality": part["type"], "mime_type": mime_type, "content": data})
        elif set(part) == {"type", "url"}:
            parts.append({"type": "uri", "modality": part["type"], "uri": part["url"]})
        else:
            parts.append(dict(part))
    for call in message.get("tool_calls") or ():
        semconv = {"type": "tool_call", "id": call.get("id"), "name": call.get("name")}
        if "arguments" in call:
            semconv["arguments"] = parse_json(call["arguments"])
        parts.append({k: v for k, v in semconv.items() if v is not None})
    return parts


# Each content form: the key prefixes it writes, and its renderer. The two structured ones
# differ in where the system prompt went; a span holds one or the other. A stored span names
# the forms its keys left storage in, and `restore` renders them again: a renderer never changes
# once released; a better one is a new version beside it (tests/test_conventions.py freezes them).
_GENAI = ("gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.output.messages",
          "gen_ai.tool.definitions")  # fmt: skip
FORMS: dict[str, tuple[tuple[str, ...], Renderer]] = {
    "openinference/1": (("llm.input_messages.", "llm.output_messages.", "llm.tools."), _openinference),
    "openllmetry/1": (("gen_ai.prompt.", "gen_ai.completion.", "llm.request.functions."), _openllmetry),
    "genai/1": (_GENAI, _genai),
    "genai-instructions/1": (_GENAI, _genai_instructions),
}
ALL_PREFIXES = tuple({prefix for prefixes, _ in FORMS.values() for prefix in prefixes})

# The second dotted piece of a content key, to the form it belongs to (a first guess).
_FORM_OF = {"input_messages": "openinference/1", "output_messages": "openinference/1",
            "tools": "openinference/1", "prompt": "openllmetry/1", "completion": "openllmetry/1",
            "request": "openllmetry/1"}  # fmt: skip
_MISSING = object()


def _forms(attributes: Attributes, content: list[str]) -> list[str]:
    """The content forms the span's `content` keys are in."""
    instructions = "gen_ai.system_instructions" in attributes
    first = _FORM_OF.get(content[0].split(".", 2)[1])  # one form is the rule: tried first
    if first is not None and all(map(str.startswith, content, repeat(FORMS[first][0]))):
        return [first]
    return [
        name
        for name, (prefixes, _) in FORMS.items()
        if not (name.startswith("genai") and name.startswith("genai/") == instructions)
        and any(map(str.startswith, content, repeat(prefixes)))
    ]


def without_reproduced(attributes: dict[str, Any], fields: NormalisedFields) -> dict[str, Any]:
    """The raw attributes minus the content keys the normalised fields reproduce exactly."""
    if "input_messages" not in fields and "output_messages" not in fields and "tools" not in fields:
        return attributes
    # One C-level check a key (this runs for every LLM span ingested), then work on those alone.
    content = [key for key in attributes if key.startswith(ALL_PREFIXES)]
    forms = _forms(attributes, content) if content else []
    if not forms:
        return attributes
    rendered: Rendered = {}
    for name in forms:
        rendered.update(FORMS[name][1](fields))
    dropped = set()
    for key in content:
        value = rendered.get(key, _MISSING)
        if value is not _MISSING and _same(attributes[key], value):
            dropped.add(key)
    if not dropped:
        return attributes
    kept = {key: value for key, value in attributes.items() if key not in dropped}
    kept[FORMS_KEY] = forms
    absent = sorted(key for key in rendered if key not in attributes)
    if absent:
        kept[ABSENT_KEY] = absent
    return kept


def _same(raw: Any, rendered: Any) -> bool:
    if raw == rendered and type(raw) is type(rendered):
        return True
    if isinstance(raw, str) and not isinstance(rendered, str):
        # A JSON text against its structure. A value that was itself a JSON string, such as
        # tool-call arguments, is compared as text above.
        return bool(parse_json(raw) == rendered)
    return False


def restore(attributes: Attributes, fields: NormalisedFields) -> dict[str, Any]:
    """The raw attributes a span arrived with, from what storage kept and its fields."""
    forms = attributes.get(FORMS_KEY)
    if not isinstance(forms, list):
        return dict(attributes)
    absent = set(attributes.get(ABSENT_KEY) or ())
    restored: dict[str, Any] = {}
    for name in forms:
        if name in FORMS:
            restored.update((k, _attribute(v)) for k, v in FORMS[name][1](fields).items() if k not in absent)
    restored.update(attributes)
    restored.pop(FORMS_KEY, None)
    restored.pop(ABSENT_KEY, None)
    return restored


def _attribute(value: Any) -> Any:
    """A rendered value as an OTel attribute: structures as their JSON text."""
    return value if isinstance(value, str | int | float | bool) or value is None else json.dumps(value)
