"""OpenLLMetry / Traceloop conventions: indexed `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`
content, `llm.request.functions.N.*` tools, `llm.request.type` and `traceloop.*` keys.

Recent OpenLLMetry releases write the OTel GenAI structured attributes instead; those spans
carry none of the keys detected here and are read by the `genai` mapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

from tracereplay.ingest.conventions import Attributes, Event, NormalisedFields
from tracereplay.ingest.conventions.genai import (
    arguments_json,
    as_text,
    in_order,
    openai_content,
    parse_json,
    request_parameters,
    token_counts,
    tool_definition,
)

_REQUEST_KINDS = {"chat": "LLM", "completion": "LLM", "embedding": "EMBEDDING", "rerank": "RERANKER"}
_SPAN_KINDS = {"workflow": "CHAIN", "task": "CHAIN", "agent": "AGENT", "tool": "TOOL"}
_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "traceloop.")
_LOOP_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.request.functions.",
                  "traceloop.association.properties.")  # fmt: skip
_PLAIN_MESSAGE_FIELDS = frozenset({"role", "tool_call_id", "name", "finish_reason"})


def detect(attributes: Attributes) -> bool:
    if "llm.request.type" in attributes or "traceloop.span.kind" in attributes:
        return True
    # map() keeps the scan in C; it runs for every span no other check has claimed.
    return any(map(str.startswith, attributes, repeat(_PREFIXES)))


def extract(attributes: Attributes, events: Sequence[Event]) -> NormalisedFields:
    fields: NormalisedFields = {}
    kind = _REQUEST_KINDS.get(attributes.get("llm.request.type") or "") or _SPAN_KINDS.get(
        attributes.get("traceloop.span.kind") or ""
    )
    if kind:
        fields["kind"] = kind
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
    if isinstance(provider, str):
        fields["provider"] = provider
    model = (
        attributes.get("gen_ai.request.model")
        or attributes.get("gen_ai.response.model")
        or attributes.get("llm.request.model")  # releases before the gen_ai.* rename
    )
    if isinstance(model, str):
        fields["model"] = model
    parameters = request_parameters(attributes)
    if parameters:
        fields["invocation_parameters"] = parameters
    fields.update(token_counts(attributes))

    prompts: dict[str, dict[str, Any]] = {}
    completions: dict[str, dict[str, Any]] = {}
    functions: dict[str, dict[str, Any]] = {}
    association: dict[str, Any] = {}
    for key, value in attributes.items():
        # One C-level check drops the keys of no interest here, then one split places the rest.
        if not key.startswith(_LOOP_PREFIXES):
            continue
        pieces = key.split(".", 3)
        if len(pieces) < 4:
            continue
        _, group, index, rest = pieces
        if group == "prompt":
            _message_attribute(prompts, index, rest, value)
        elif group == "completion":
            _message_attribute(completions, index, rest, value)
        elif group == "request":  # llm.request.functions.N.<field>
            position, _, name = rest.partition(".")
            functions.setdefault(position, {})[name] = value
        else:  # traceloop.association.properties.<name>
            association[rest] = value
    if prompts:
        fields["input_messages"] = _messages(prompts, "user")
    if completions:
        fields["output_messages"] = _messages(completions, "assistant")
    if functions:
        tools = [tool_definition(functions[i]) for i in in_order(functions)]
        fields["tools"] = [t for t in tools if t is not None]

    entity_input = attributes.get("traceloop.entity.input")
    if entity_input is not None:
        fields["input"] = as_text(entity_input)
    entity_output = attributes.get("traceloop.entity.output")
    if entity_output is not None:
        fields["output"] = as_text(entity_output)
    if association:
        session = association.pop("session_id", None)
        if session is not None:
            fields["session_id"] = str(session)
        user = association.pop("user_id", None)
        if user is not None:
            fields["user_id"] = str(user)
        if association:
            fields["metadata"] = association
    return fields


def _message_attribute(messages: dict[str, dict[str, Any]], index: str, field: str, value: Any) -> None:
    message = messages.get(index)
    if message is None:
        message = messages[index] = {}
    if field == "content":
        message["_content"] = value
    elif field in _PLAIN_MESSAGE_FIELDS:
        message[field] = value
    elif field == "user":  # text completions record the prompt as gen_ai.prompt.0.user
        message["role"] = "user"
        message["_content"] = value
    elif field.startswith("function_call."):  # LiteLLM: the older single function call
        name = field[14:]
        if name in ("name", "arguments"):
            message.setdefault("_function_call", {})[name] = (
                arguments_json(value) if name == "arguments" else value
            )
    elif field.startswith("tool_calls."):
        position, _, name = field[11:].partition(".")
        if name in ("id", "name", "arguments"):
            call = message.setdefault("_calls", {}).setdefault(position, {})
            call[name] = arguments_json(value) if name == "arguments" else value


def _messages(raw: dict[str, dict[str, Any]], default_role: str) -> list[dict[str, Any]]:
    messages = []
    for index in in_order(raw):
        message = raw[index]
        message.setdefault("role", default_role)
        if "_content" in message:
            openai_content(message, _parts_or_text(message.pop("_content")))
        calls = message.pop("_calls", None)
        function_call = message.pop("_function_call", None)
        if calls:
            message["tool_calls"] = [calls[i] for i in in_order(calls)]
        elif function_call:
            message["tool_calls"] = [function_call]
        messages.append(message)
    return messages


def _parts_or_text(content: Any) -> Any:
    """Multi-part content is recorded as the JSON text of the OpenAI parts list; decode it only
    when it is exactly that, so a user's own JSON text stays text."""
    if isinstance(content, str) and content.startswith('[{"'):
        parsed = parse_json(content)
        if isinstance(parsed, list) and all(isinstance(p, dict) and "type" in p for p in parsed):
            return parsed
    return content
