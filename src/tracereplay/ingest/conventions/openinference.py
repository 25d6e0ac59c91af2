"""OpenInference semantic conventions (`openinference.span.kind`, `llm.*`, `input.value`, ...).

Messages, tools and text-completion prompts are flattened into indexed keys
(`llm.input_messages.0.message.tool_calls.1.tool_call.function.name`); they are rebuilt in
one pass over the attributes. Everything else is a direct key lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracereplay.ingest.conventions import Attributes, Event, NormalisedFields, anthropic_request
from tracereplay.ingest.conventions.genai import (
    arguments_json,
    as_text,
    counted_tokens,
    in_order,
    parse_json,
    tool_definition,
)

# Invocation-parameter keys that are not model parameters: the model is its own field,
# streaming is how the call was transported, not what the model was asked to do, and LangChain
# adds its own bookkeeping (`_type`, `model_name`).
_NOT_PARAMETERS = frozenset({"model", "messages", "prompt", "tools", "functions", "stream", "stream_options",
                             "_type", "model_name"})  # fmt: skip

_TEMPLATE_KEYS = (
    ("llm.prompt_template.template", "template"),
    ("llm.prompt_template.version", "version"),
    ("llm.prompt_template.name", "name"),
    ("llm.prompt_template.id", "id"),
)

_PLAIN_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_call_id"})


def detect(attributes: Attributes) -> bool:
    return "openinference.span.kind" in attributes


def extract(attributes: Attributes, events: Sequence[Event]) -> NormalisedFields:
    fields: NormalisedFields = {}
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str):
        fields["kind"] = kind.upper()
    provider = attributes.get("llm.provider") or attributes.get("llm.system")
    if isinstance(provider, str):
        fields["provider"] = provider
    model = attributes.get("llm.model_name") or attributes.get("embedding.model_name")
    if isinstance(model, str):
        fields["model"] = model
    parameters = parse_json(attributes.get("llm.invocation_parameters"))
    if isinstance(parameters, dict):
        fields["invocation_parameters"] = {k: v for k, v in parameters.items() if k not in _NOT_PARAMETERS}
        if not isinstance(parameters.get("response_format", {}), dict):  # LangChain: a class's name
            del fields["invocation_parameters"]["response_format"]  # not sendable (fidelity says so)
    _indexed(attributes, fields)
    if fields.get("provider") == "anthropic":
        _anthropic_request(attributes, fields)
    else:
        _image_details(attributes, fields)
    fields.update(
        counted_tokens(
            attributes.get("llm.token_count.prompt"),
            attributes.get("llm.token_count.completion"),
            attributes.get("llm.token_count.total"),
        )
    )
    template = _prompt_template(attributes)
    if template:
        fields["prompt_template"] = template
    # Whatever the mime type, the value stays the string that was recorded (JSON included).
    input_value = attributes.get("input.value")
    if input_value is not None:
        fields["input"] = as_text(input_value)
    output_value = attributes.get("output.value")
    if output_value is not None:
        fields["output"] = as_text(output_value)
    _hints(attributes, fields)
    return fields


def _anthropic_request(attributes: Attributes, fields: NormalisedFields) -> None:
    """OpenInference's Anthropic spans record the SDK call's keyword arguments whole as
    `input.value`: system blocks, cache marks and every argument, which its flattened messages
    leave out. Read from there; the flattened keys stay for what they say (and are kept)."""
    request = parse_json(attributes.get("input.value"))
    if not (isinstance(request, dict) and anthropic_request.is_messages_request(request)):
        return  # another shape (LangChain's ChatAnthropic, LiteLLM's OpenAI-style messages)
    read = anthropic_request.extract(request)
    if read.get("input_messages"):
        read["invocation_parameters"] = {**fields.get("invocation_parameters", {}),
                                         **read.get("invocation_parameters", {})}  # fmt: skip
        fields.update(read)


def _image_details(attributes: Attributes, fields: NormalisedFields) -> None:
    """OpenInference's flattened image parts have no `detail` (which changes what the model
    sees and what it costs); the request body it records as `input.value` does. Only for spans
    with image parts: the body is parsed for nothing else."""
    messages = fields.get("input_messages") or []
    if not any(part.get("type") == "image" for m in messages for part in m.get("parts") or []):
        return
    request = parse_json(attributes.get("input.value"))
    sent = request.get("messages") if isinstance(request, dict) else None
    if isinstance(sent, list) and len(sent) == 1 and isinstance(sent[0], list):
        sent = sent[0]  # LangChain's: one list of serialized messages per prompt
    if not isinstance(sent, list) or len(sent) != len(messages):
        return
    for message, original in zip(messages, sent, strict=True):
        if isinstance(original, dict) and isinstance(original.get("kwargs"), dict):
            original = original["kwargs"]  # a LangChain message, serialized
        content = original.get("content") if isinstance(original, dict) else None
        parts = message.get("parts") or []
        if not isinstance(content, list) or len(content) != len(parts):
            continue
        for part, raw in zip(parts, content, strict=True):
            image = raw.get("image_url") if isinstance(raw, dict) else None
            if part.get("type") == "image" and isinstance(image, dict) and image.get("detail"):
                part["detail"] = image["detail"]


def _indexed(attributes: Attributes, fields: NormalisedFields) -> None:
    # Indexes stay strings while collecting (int() only once per message, when sorting):
    # this loop runs for every attribute of every span.
    inputs: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    tools: dict[str, Any] = {}
    for key, value in attributes.items():
        if not key.startswith("llm."):
            continue
        pieces = key.split(".", 3)
        if len(pieces) < 4:
            continue
        _, group, index, rest = pieces
        if group == "input_messages":
            messages = inputs
        elif group == "output_messages":
            messages = outputs
        elif group == "tools":
            if rest == "tool.json_schema":
                tools[index] = value
            continue
        elif group == "prompts":  # text completions
            if rest == "prompt.text":
                inputs.setdefault(index, {"role": "user"})["content"] = value
            continue
        elif group == "choices":
            if rest == "completion.text":
                outputs.setdefault(index, {"role": "assistant"})["content"] = value
            continue
        else:
            continue
        if not rest.startswith("message."):
            continue
        message = messages.get(index)
        if message is None:
            message = messages[index] = {}
        field = rest[8:]
        if field in _PLAIN_MESSAGE_FIELDS:
            message[field] = value
        else:
            _nested_message_attribute(message, field, value)
    prompts = attributes.get("llm.prompts")
    if not inputs and isinstance(prompts, list):  # older OpenInference: a list of strings
        inputs = {str(i): {"role": "user", "content": p} for i, p in enumerate(prompts)}
    if inputs:
        fields["input_messages"] = _messages(inputs)
    if outputs:
        output_messages = _messages(outputs)
        finish_reason = attributes.get("llm.finish_reason")
        if len(output_messages) == 1 and finish_reason and "finish_reason" not in output_messages[0]:
            output_messages[0]["finish_reason"] = finish_reason
        fields["output_messages"] = output_messages
    if tools:
        definitions = [tool_definition(parse_json(tools[i])) for i in in_order(tools)]
        fields["tools"] = [t for t in definitions if t is not None]


def _nested_message_attribute(message: dict[str, Any], field: str, value: Any) -> None:
    """`contents.M.message_content.<x>` and `tool_calls.K.tool_call.<x>` of one message."""
    pieces = field.split(".", 2)
    if len(pieces) < 3:
        return
    kind, position, sub = pieces
    if kind == "contents":
        part = message.setdefault("_parts", {}).setdefault(position, {})
        part[sub.removeprefix("message_content.")] = value
    elif kind == "tool_calls":
        call = message.setdefault("_calls", {}).setdefault(position, {})
        sub = sub.removeprefix("tool_call.")
        if sub == "id":
            call["id"] = value
        elif sub == "function.name":
            call["name"] = value
        elif sub == "function.arguments":
            call["arguments"] = arguments_json(value)


def _messages(raw: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    messages = []
    for index in in_order(raw):
        message = raw[index]
        parts = message.pop("_parts", None)
        calls = message.pop("_calls", None)
        if parts:
            normalised = [_part(parts[i]) for i in in_order(parts)]
            if len(normalised) == 1 and normalised[0]["type"] == "text" and "content" not in message:
                message["content"] = normalised[0]["text"]
            else:
                message["parts"] = normalised
        if calls:
            message["tool_calls"] = [calls[i] for i in in_order(calls)]
        messages.append(message)
    return messages


def _part(raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("type")
    if kind == "text":
        return {"type": "text", "text": raw.get("text", "")}
    if kind == "image":
        return {"type": "image", "url": raw.get("image.image.url")}
    return {"type": kind or "unknown", **{k: v for k, v in raw.items() if k != "type"}}


def _prompt_template(attributes: Attributes) -> dict[str, Any]:
    template: dict[str, Any] = {}
    for key, name in _TEMPLATE_KEYS:
        value = attributes.get(key)
        if value is not None:
            template[name] = value
    variables = parse_json(attributes.get("llm.prompt_template.variables"))
    if isinstance(variables, dict):
        template["variables"] = variables
    return template


def _hints(attributes: Attributes, fields: NormalisedFields) -> None:
    session = attributes.get("session.id")
    if session is not None:
        fields["session_id"] = str(session)
    user = attributes.get("user.id")
    if user is not None:
        fields["user_id"] = str(user)
    tags = attributes.get("tag.tags")
    if isinstance(tags, list):
        fields["tags"] = [str(t) for t in tags]
    metadata = parse_json(attributes.get("metadata"))
    if isinstance(metadata, dict):
        fields["metadata"] = metadata
