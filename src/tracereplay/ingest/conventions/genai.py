"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`), old and new content forms.

Content arrives in one of two shapes: the newer structured attributes
(`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`,
`gen_ai.tool.definitions`, as JSON strings or structured values, on the span or on a
`gen_ai.client.inference.operation.details` event), or the older one-event-per-message form
(`gen_ai.user.message`, `gen_ai.choice`, ...). The request-parameter, usage and content helpers
here are also used by the OpenLLMetry mapper, which shares the `gen_ai.request.*` keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from tracereplay.ingest.conventions import Attributes, Event, NormalisedFields

_KINDS = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}

# gen_ai.request.<suffix> -> the parameter name the OpenAI API takes.
_REQUEST_PARAMETERS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.top_k": "top_k",
    "gen_ai.request.choice.count": "n",
}

# Older or vendor names of request arguments -> the OpenAI API's.
_OTHER_PARAMETERS = {
    "gen_ai.openai.request.seed": "seed",
    "gen_ai.openai.request.service_tier": "service_tier",
    "gen_ai.user": "user",
}

# The semconv's finish reasons, in the OpenAI words every other convention reports.
_FINISH_REASONS = {"tool_call": "tool_calls"}

_DETAILS_EVENT = "gen_ai.client.inference.operation.details"


def detect(attributes: Attributes) -> bool:
    return (
        "gen_ai.operation.name" in attributes
        or "gen_ai.system" in attributes
        or "gen_ai.provider.name" in attributes
    )


def extract(attributes: Attributes, events: Sequence[Event]) -> NormalisedFields:
    fields: NormalisedFields = {}
    operation = attributes.get("gen_ai.operation.name")
    kind = _KINDS.get(operation) if isinstance(operation, str) else None
    if kind is None and operation is None and "gen_ai.request.model" in attributes:
        kind = "LLM"  # spans from before gen_ai.operation.name existed
    if kind:
        fields["kind"] = kind
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
    if isinstance(provider, str):
        fields["provider"] = provider
    model = attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model")
    if isinstance(model, str):
        fields["model"] = model
    parameters = request_parameters(attributes)
    if parameters:
        fields["invocation_parameters"] = parameters
    fields.update(token_counts(attributes))
    conversation = attributes.get("gen_ai.conversation.id")
    if isinstance(conversation, str):
        fields["session_id"] = conversation
    if kind == "TOOL":
        _tool_call_io(attributes, fields)

    source = attributes
    if "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes:
        details = next((e for e in events if e.get("name") == _DETAILS_EVENT), None)
        if details is not None:
            source = details.get("attributes") or {}
    if "gen_ai.input.messages" in source or "gen_ai.output.messages" in source:
        _structured_content(source, fields)
    elif events:
        _event_content(events, fields)
    if "tools" not in fields:
        definitions = source.get("gen_ai.tool.definitions") or attributes.get("gen_ai.tool.definitions")
        tools = _tool_definitions(definitions)
        if tools:
            fields["tools"] = tools
    return fields


# -- shared with openllmetry ---------------------------------------------------------------


def request_parameters(attributes: Attributes) -> dict[str, Any]:
    """The request arguments a span records, in the OpenAI API's names: `gen_ai.request.*`,
    the older `gen_ai.openai.request.*`, the response format (a structured-output schema, or
    only its type), the end user, and the anthropic SDK's thinking settings."""
    parameters = {}
    for key, name in _REQUEST_PARAMETERS.items():
        value = attributes.get(key)
        if value is not None:
            parameters[name] = value
    for key, name in _OTHER_PARAMETERS.items():
        if attributes.get(key) is not None:
            parameters.setdefault(name, attributes[key])
    response_format = _response_format(attributes)
    if response_format is not None:
        parameters["response_format"] = response_format
    thinking = attributes.get("anthropic.thinking.type")  # the anthropic SDK's own spans
    if isinstance(thinking, str):
        budget = attributes.get("anthropic.thinking.budget_tokens")
        parameters["thinking"] = {
            "type": thinking,
            **({"budget_tokens": budget} if isinstance(budget, int) else {}),
        }
    return parameters


def _response_format(attributes: Attributes) -> dict[str, Any] | None:
    schema = attributes.get("gen_ai.request.structured_output_schema")
    if isinstance(schema, str):
        try:
            schema = orjson.loads(schema)
        except orjson.JSONDecodeError:
            schema = None
    if isinstance(schema, dict):
        if schema.get("type") in ("json_object", "json_schema", "text"):
            return schema  # the whole response_format argument, as OpenLLMetry records it
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    kind = attributes.get("gen_ai.openai.request.response_format")
    if kind in ("json_object", "text"):
        return {"type": kind}  # a json_schema one without its schema would be refused: not sent
    if attributes.get("gen_ai.output.type") == "json":
        return {"type": "json_object"}
    return None


def token_counts(attributes: Attributes) -> NormalisedFields:
    """Prompt/completion/total tokens from the current or the older `gen_ai.usage.*` names."""
    prompt = attributes.get("gen_ai.usage.input_tokens", attributes.get("gen_ai.usage.prompt_tokens"))
    completion = attributes.get(
        "gen_ai.usage.output_tokens", attributes.get("gen_ai.usage.completion_tokens")
    )
    # Not in the semconv, but OpenLLMetry and others set it; it is the provider's own total.
    total = attributes.get("gen_ai.usage.total_tokens", attributes.get("llm.usage.total_tokens"))
    return counted_tokens(prompt, completion, total)


def counted_tokens(prompt: Any, completion: Any, total: Any) -> NormalisedFields:
    """The integer counts among these; the total is their sum when not reported."""
    counts: NormalisedFields = {}
    if isinstance(prompt, int):
        counts["prompt_tokens"] = prompt
    if isinstance(completion, int):
        counts["completion_tokens"] = completion
    if isinstance(total, int):
        counts["total_tokens"] = total
    elif isinstance(prompt, int) and isinstance(completion, int):
        counts["total_tokens"] = prompt + completion
    return counts


def parse_json(value: Any) -> Any:
    """A JSON string decoded; anything else (already structured, or not JSON) as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def in_order(indexed: Mapping[str, Any]) -> list[str]:
    """The keys of an index -> item mapping in numeric order; non-numeric indexes are dropped."""
    try:
        return sorted(indexed, key=int)
    except ValueError:
        return sorted((i for i in indexed if i.isdigit()), key=int)


def arguments_json(arguments: Any) -> str:
    """Tool-call arguments as the JSON string the model produced."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def tool_definition(tool: Any) -> dict[str, Any] | None:
    """An OpenAI-style or flat (`name`, `parameters` / `input_schema`) tool, in OpenAI shape."""
    if not isinstance(tool, Mapping):
        return None
    nested = tool.get("function")
    if tool.get("type") == "function" and isinstance(nested, Mapping) and isinstance(nested.get("name"), str):
        # Already the OpenAI shape: kept whole, so options such as `strict` survive for replay.
        return dict(tool)
    spec: Mapping[str, Any] = nested if isinstance(nested, Mapping) else tool
    name = spec.get("name")
    if not isinstance(name, str):
        return None
    function: dict[str, Any] = {"name": name}
    if spec.get("description"):
        function["description"] = spec["description"]
    parameters = parse_json(spec.get("parameters", spec.get("input_schema")))
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def openai_content(message: dict[str, Any], content: Any) -> None:
    """Set `content` (plain text) or `parts` (multi-part) on a message from OpenAI content."""
    if isinstance(content, str):
        message["content"] = content
    elif isinstance(content, list):
        parts = [_openai_part(p) for p in content]
        if len(parts) == 1 and parts[0].get("type") == "text":
            message["content"] = parts[0]["text"]
        elif parts:
            message["parts"] = parts


def openai_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """`[{id, type, function: {name, arguments}}]` -> normalised tool calls."""
    result = []
    for call in calls if isinstance(calls, list) else ():
        if not isinstance(call, Mapping):
            continue
        nested = call.get("function")
        function: Mapping[str, Any] = nested if isinstance(nested, Mapping) else call
        result.append(_tool_call(call.get("id"), function.get("name"), function.get("arguments")))
    return result


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    # Arguments absent means not captured (content capture off), which is not "{}".
    call = {
        "id": call_id,
        "name": name,
        "arguments": None if arguments is None else arguments_json(arguments),
    }
    return {k: v for k, v in call.items() if v is not None}


def _openai_part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, Mapping):
        return {"type": "unknown", "value": part}
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return {"type": "image", "url": url, **({"detail": detail} if detail else {})}
    return dict(part)


# -- structured form -----------------------------------------------------------------------


def _structured_content(source: Attributes, fields: NormalisedFields) -> None:
    inputs: list[dict[str, Any]] = []
    instructions = parse_json(source.get("gen_ai.system_instructions"))
    if isinstance(instructions, str):
        inputs.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list) and instructions:
        inputs.extend(_semconv_message({"role": "system", "parts": instructions}, "system"))
    for message in _list(source.get("gen_ai.input.messages")):
        inputs.extend(_semconv_message(message, "user"))
    if inputs:
        fields["input_messages"] = inputs
    outputs = [m for message in _list(source.get("gen_ai.output.messages"))
               for m in _semconv_message(message, "assistant")]  # fmt: skip
    if outputs:
        fields["output_messages"] = outputs


def _list(value: Any) -> list[Any]:
    value = parse_json(value)
    return value if isinstance(value, list) else []


def _semconv_message(message: Any, default_role: str) -> list[dict[str, Any]]:
    """One semconv message -> normalised messages; tool responses become `tool` messages."""
    if not isinstance(message, Mapping):
        return []
    role = message.get("role") or default_role
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    for part in message.get("parts") or ():
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("content", "")})
        elif kind == "tool_call":
            calls.append(_tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            result = part.get("response", part.get("result"))
            response = {"role": "tool", "content": as_text(result) if result is not None else ""}
            if part.get("id") is not None:
                response["tool_call_id"] = part["id"]
            responses.append(response)
        elif kind == "uri":
            parts.append({"type": part.get("modality") or "file", "url": part.get("uri")})
        elif kind == "blob" and isinstance(part.get("content"), str) and part.get("mime_type"):
            url = f"data:{part['mime_type']};base64,{part['content']}"  # the bytes, as a data URL
            parts.append({"type": part.get("modality") or "file", "url": url})
        elif kind == "reasoning":
            parts.append({"type": "reasoning", "text": part.get("content", "")})
        else:
            parts.append(dict(part))
    if not parts and not calls:
        return responses
    normalised: dict[str, Any] = {"role": role}
    if len(parts) == 1 and parts[0]["type"] == "text":
        normalised["content"] = parts[0]["text"]
    elif parts:
        normalised["parts"] = parts
    if calls:
        normalised["tool_calls"] = calls
    if message.get("name"):
        normalised["name"] = message["name"]
    finish_reason = message.get("finish_reason")
    if finish_reason:
        normalised["finish_reason"] = _FINISH_REASONS.get(finish_reason, finish_reason)
    return [*responses, normalised]


def _tool_definitions(value: Any) -> list[dict[str, Any]]:
    return [t for t in map(tool_definition, _list(value)) if t is not None]


def _tool_call_io(attributes: Attributes, fields: NormalisedFields) -> None:
    arguments = attributes.get("gen_ai.tool.call.arguments")
    if arguments is not None:
        fields["input"] = as_text(arguments)
    result = attributes.get("gen_ai.tool.call.result")
    if result is not None:
        fields["output"] = as_text(result)


# -- event form ----------------------------------------------------------------------------


def _event_content(events: Sequence[Event], fields: NormalisedFields) -> None:
    inputs: list[dict[str, Any]] = []
    choices: list[tuple[int, dict[str, Any]]] = []
    for event in events:
        name = event.get("name")
        if not isinstance(name, str) or not name.startswith("gen_ai."):
            continue
        if name == "gen_ai.choice":
            payload = _payload(event)
            index = payload.get("index")
            choices.append((index if isinstance(index, int) else len(choices), _choice(payload)))
        elif name.endswith(".message"):
            role = name[len("gen_ai.") : -len(".message")]
            inputs.append(_event_message(role, _payload(event)))
    if inputs:
        fields["input_messages"] = inputs
    if choices:
        fields["output_messages"] = [m for _, m in sorted(choices, key=lambda c: c[0])]


def _payload(event: Event) -> Mapping[str, Any]:
    body = parse_json(event.get("body"))
    if isinstance(body, Mapping):
        return body
    attributes = event.get("attributes") or {}
    content = parse_json(attributes.get("gen_ai.event.content"))
    if isinstance(content, Mapping):
        return content
    return attributes


def _event_message(role: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": payload.get("role") or role}
    openai_content(message, payload.get("content"))
    calls = openai_tool_calls(payload.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    tool_call_id = payload.get("id", payload.get("tool_call_id"))
    if role == "tool" and tool_call_id is not None:
        message["tool_call_id"] = tool_call_id
    if payload.get("name"):
        message["name"] = payload["name"]
    return message


def _choice(payload: Mapping[str, Any]) -> dict[str, Any]:
    raw = payload.get("message")
    inner: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    message: dict[str, Any] = {"role": inner.get("role") or "assistant"}
    openai_content(message, inner.get("content"))
    # OpenLLMetry's event mode puts tool_calls beside `message` instead of inside it.
    calls = openai_tool_calls(inner.get("tool_calls") or payload.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    if payload.get("finish_reason"):
        message["finish_reason"] = payload["finish_reason"]
    return message
