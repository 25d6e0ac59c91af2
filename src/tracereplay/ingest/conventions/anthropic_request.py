"""An Anthropic Messages request, as sent, read into normalised fields without losing what a
replay to Anthropic must send again.

Two sources hold one whole: the body the SDK's exact capture recorded
(`tracereplay.request.body` on a `/v1/messages` call), and the keyword arguments OpenInference
records as `input.value` on its Anthropic spans. What Anthropic's API has and the normalised
(OpenAI-shaped) messages have not stays in Anthropic's own terms, and the Anthropic provider
sends it back as it came:

- `system` as text, or as blocks (a system message with text parts, each with its
  `cache_control`);
- `cache_control` on text and image parts; images as `data:` URLs (media type and data) or
  URLs; blocks with no normalised form (thinking, documents, ...) as parts holding the block;
- `tool_use` blocks as tool calls, `tool_result` blocks as tool messages (`is_error` kept);
- tools with nothing but a name, description and input schema in the normalised OpenAI shape,
  others (server tools, cache marks) as sent; every other argument under its own name
  (`stop_sequences`, `top_k`, `thinking`, `metadata`, Anthropic's `tool_choice`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tracereplay.ingest.conventions import NormalisedFields

# Not parameters: the content, and how the call was made rather than what it asked.
_NOT_PARAMETERS = frozenset({"model", "messages", "system", "tools", "stream", "extra_body", "extra_headers",
                             "extra_query", "timeout"})  # fmt: skip
_PLAIN_TOOL = frozenset({"name", "description", "input_schema"})


def is_messages_request(request: Mapping[str, Any]) -> bool:
    """Whether a recorded request is the Messages API's own (what the anthropic SDK is given):
    `max_tokens`, and user and assistant turns of text or typed blocks, nothing OpenAI-shaped."""
    turns = request.get("messages")
    if "max_tokens" not in request or not isinstance(turns, list) or not turns:
        return False
    for turn in turns:
        if not isinstance(turn, Mapping) or turn.get("role") not in ("user", "assistant"):
            return False
        if "tool_calls" in turn or "tool_call_id" in turn:
            return False
        content = turn.get("content")
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(isinstance(b, Mapping) and "type" in b for b in content)
        ):
            return False
    return True


def extract(request: Mapping[str, Any]) -> NormalisedFields:
    """The fields of a Messages request (a body, or the SDK call's keyword arguments); nothing
    when it is not one."""
    turns = request.get("messages")
    if not isinstance(turns, list):
        return {}
    messages: list[dict[str, Any]] = []
    system = request.get("system")
    if isinstance(system, str):
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list):
        messages.append({"role": "system", "parts": [_part(block) for block in system]})
    for turn in turns:
        if isinstance(turn, Mapping):
            messages.extend(_turn(turn))
    fields: NormalisedFields = {"input_messages": messages}
    tools = request.get("tools")
    if isinstance(tools, list):
        fields["tools"] = [_tool(tool) for tool in tools if isinstance(tool, Mapping)]
    parameters = {key: value for key, value in request.items() if key not in _NOT_PARAMETERS}
    extra = request.get("extra_body")  # the SDK merges these into the body
    if isinstance(extra, Mapping):
        parameters.update(extra)
    fields["invocation_parameters"] = parameters
    if isinstance(request.get("model"), str):
        fields["model"] = request["model"]
    return fields


def _turn(turn: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One turn's messages, in the order of its blocks: a tool result is a message of its own."""
    role = turn.get("role") or "user"
    content = turn.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []

    def flush() -> None:
        if parts or calls:
            messages.append({"role": role, **({"parts": parts[:]} if parts else {}),
                             **({"tool_calls": calls[:]} if calls else {})})  # fmt: skip
            parts.clear()
            calls.clear()

    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "tool_use" and set(block) <= {"type", "id", "name", "input"}:
            calls.append({"id": block.get("id"), "name": block.get("name"),
                          "arguments": json.dumps(block.get("input"))})  # fmt: skip
        elif kind == "tool_result" and set(block) <= {"type", "tool_use_id", "content", "is_error"}:
            flush()
            messages.append(_tool_result(block))
        elif isinstance(block, Mapping):
            parts.append(_part(block))
    flush()
    return messages or [{"role": role}]


def _tool_result(block: Mapping[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "tool", "tool_call_id": block.get("tool_use_id")}
    content = block.get("content")
    if isinstance(content, list):
        message["parts"] = [_part(item) for item in content if isinstance(item, Mapping)]
    elif content is not None:
        message["content"] = content
    if block.get("is_error") is not None:
        message["is_error"] = block["is_error"]
    return message


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    mark = {"cache_control": block["cache_control"]} if "cache_control" in block else {}
    if kind == "text" and set(block) <= {"type", "text", "cache_control"}:
        return {"type": "text", "text": block.get("text", ""), **mark}
    source = block.get("source")
    if kind == "image" and set(block) <= {"type", "source", "cache_control"} and isinstance(source, Mapping):
        if source.get("type") == "base64" and set(source) == {"type", "media_type", "data"}:
            return {"type": "image", "url": f"data:{source['media_type']};base64,{source['data']}", **mark}
        if source.get("type") == "url" and set(source) == {"type", "url"}:
            return {"type": "image", "url": source["url"], **mark}
    return dict(block)  # in Anthropic's own terms, sent back as it came


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if set(tool) <= _PLAIN_TOOL and isinstance(tool.get("name"), str):
        function: dict[str, Any] = {"name": tool["name"]}
        if "description" in tool:
            function["description"] = tool["description"]
        if "input_schema" in tool:
            function["parameters"] = tool["input_schema"]
        return {"type": "function", "function": function}
    return dict(tool)
