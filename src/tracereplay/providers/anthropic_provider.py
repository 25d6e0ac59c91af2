"""Anthropic through the official `anthropic` SDK's sync client.

Normalised (OpenAI-shaped) requests are mapped to the Messages API and back:

- system (and developer) messages -> the top-level `system` prompt, joined by blank lines;
- assistant `tool_calls` <-> `tool_use` blocks (arguments: JSON string <-> `input` object);
- `tool` messages -> `tool_result` blocks in a user turn; consecutive turns of one role are
  merged, as the API wants the results of parallel tool calls in one user turn;
- tools -> `{name, description, input_schema}`; `tool_choice` and `parallel_tool_calls` ->
  Anthropic's `tool_choice`; `stop` -> `stop_sequences`; `user` -> `metadata.user_id`;
- `max_tokens` (or `max_completion_tokens`) is required by the API: a span recorded without
  one is replayed with `DEFAULT_MAX_TOKENS` (1024);
- OpenAI-only parameters (seed, penalties, logprobs, n, response_format, …) are dropped, so
  a trace recorded on OpenAI replays on Claude; any other parameter goes into the request
  body as given (temperature, top_p, top_k, thinking, …);
- `stop_reason` -> OpenAI finish reasons (end_turn/stop_sequence -> stop, tool_use ->
  tool_calls, max_tokens -> length, refusal -> content_filter).

Retries, back-off and `Retry-After` are the SDK's own, as for OpenAI. The SDK's built-in
OpenTelemetry spans are switched off: replays are recorded by tracereplay itself.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from typing import Any

import anthropic
from anthropic.resources import Messages
from anthropic.types import Message, Model

from tracereplay.providers.base import (
    ANTHROPIC_BLOCKS,
    MAX_RETRY_AFTER_SECONDS,
    CallPolicy,
    CompletionRequest,
    CompletionResponse,
    Provider,
    SDKErrors,
    call_sdk,
    retry_after_seconds,
    sdk_model_names,
)

ANTHROPIC_ERRORS = SDKErrors(
    anthropic.APITimeoutError,
    anthropic.APIConnectionError,
    anthropic.APIStatusError,
    anthropic.AnthropicError,
)

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 1024

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}

# OpenAI parameters the Messages API has no equivalent for (it rejects unknown fields).
_OPENAI_ONLY = frozenset(
    {"seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs",
     "n", "response_format", "store", "modalities", "audio", "prediction", "reasoning_effort",
     "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "safety_identifier",
     "verbosity", "web_search_options", "functions", "function_call", "moderation",
     "service_tier", "metadata"}
)  # fmt: skip
# Arguments a replay never sends with the operator's key: they hand the API credentials for, or
# state of, servers and containers the recorded app owned (replay fidelity names them).
NOT_REPLAYED = frozenset({"mcp_servers", "container"})
# Parameters mapped by this module, or never taken from a span (a replay is one non-streamed call).
_MAPPED = frozenset(
    {"self", "model", "messages", "system", "tools", "tool_choice", "parallel_tool_calls",
     "max_tokens", "max_completion_tokens", "stop", "user", "stream", "stream_options",
     "timeout", "extra_headers", "extra_query", "extra_body"}
)  # fmt: skip
_NAMED_PARAMETERS = frozenset(inspect.signature(Messages.create).parameters) - _MAPPED
# Sampling parameters of the Messages API; recent SDKs take them through the request body only.
_SAMPLING = frozenset({"temperature", "top_p", "top_k"})
# OpenAI parameters this module translates into the Messages API's own.
_TRANSLATED = frozenset(
    {"max_tokens", "max_completion_tokens", "stop", "user", "tool_choice", "parallel_tool_calls"}
)


class _BoundedRetryAfter(anthropic.Anthropic):
    """The Anthropic SDK waits as long as a Retry-After header says, even hours, holding a
    replay worker slot all along. Like the openai SDK, give up at once when the wait asked for
    is longer than `MAX_RETRY_AFTER_SECONDS`; the error says so."""

    def _should_retry(self, response: Any) -> bool:
        seconds = retry_after_seconds(response.headers)
        if seconds is not None and seconds > MAX_RETRY_AFTER_SECONDS:
            return False
        return bool(super()._should_retry(response))


def anthropic_models() -> list[str]:
    """Claude models as the installed SDK knows them, without those it warns are deprecated."""
    try:
        from anthropic._data.deprecated_models import DEPRECATED_MODELS
    except ImportError:  # a private module; older and newer SDKs may not have it
        DEPRECATED_MODELS = {}
    return sdk_model_names(Model, exclude=DEPRECATED_MODELS)


class AnthropicProvider(Provider):
    def __init__(
        self,
        name: str = "anthropic",
        *,
        api_key: str,
        base_url: str | None = None,
        models: Iterable[str] = (),
        policy: CallPolicy,
    ) -> None:
        super().__init__(name, policy, secrets=[api_key])
        self.base_url = base_url or ANTHROPIC_BASE_URL
        self._models = list(models)
        self._client = _BoundedRetryAfter(
            api_key=api_key,
            base_url=self.base_url,
            timeout=policy.timeout_seconds,
            max_retries=policy.max_retries,
            open_telemetry={"traces": False, "propagation": False},
        )

    def models(self) -> list[str]:
        return list(self._models)

    def understands(self, parameter: str) -> bool:
        if parameter in _OPENAI_ONLY:  # dropped by `to_anthropic_call` whoever asks for it
            return False
        return parameter in _NAMED_PARAMETERS or parameter in _TRANSLATED or parameter in _SAMPLING

    def close(self) -> None:
        self._client.close()

    def _complete(self, request: CompletionRequest) -> CompletionResponse:
        call = to_anthropic_call(request)
        message, latency_ms, attempts = call_sdk(
            self, request.model, self.base_url, ANTHROPIC_ERRORS,
            lambda: self._client.messages.with_raw_response.create(**call),
        )  # fmt: skip
        return from_anthropic_message(message, request.model, latency_ms, attempts)


def to_anthropic_call(request: CompletionRequest) -> dict[str, Any]:
    """The keyword arguments of `messages.create` for a normalised request."""
    parameters = {k: v for k, v in request.parameters.items() if v is not None}
    system, messages = to_anthropic_messages(request.messages)
    max_tokens = parameters.get("max_tokens") or parameters.get("max_completion_tokens")
    call: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        call["system"] = system
    if request.tools:
        call["tools"] = [_to_anthropic_tool(tool) for tool in request.tools]
        choice = _to_anthropic_tool_choice(parameters.get("tool_choice"))
        if parameters.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            call["tool_choice"] = choice
    elif isinstance(parameters.get("tool_choice"), dict):  # Anthropic's own, sent without tools
        call["tool_choice"] = parameters["tool_choice"]
    stop = parameters.get("stop")
    if stop:
        call["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if parameters.get("user"):
        call["metadata"] = {"user_id": str(parameters["user"])}
    metadata = parameters.get("metadata")  # Anthropic's own (OpenAI's metadata is another thing)
    if isinstance(metadata, dict) and metadata and set(metadata) <= {"user_id"}:
        call["metadata"] = metadata
    extra: dict[str, Any] = {}
    for key, value in parameters.items():
        if key in _MAPPED or key in _OPENAI_ONLY or key in NOT_REPLAYED:
            continue
        (call if key in _NAMED_PARAMETERS else extra)[key] = value
    if extra:
        call["extra_body"] = extra
    return call


def to_anthropic_messages(
    messages: Iterable[dict[str, Any]],
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """Normalised messages -> (system prompt, Messages API turns). A system prompt recorded as
    blocks (text parts, with their cache marks) is sent as blocks, else as one text."""
    system: list[dict[str, Any]] = []
    system_as_blocks = False
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system_as_blocks = system_as_blocks or bool(message.get("parts"))
            system.extend(_content_blocks(message))
            continue
        if role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or ""}
            if message.get("parts"):
                result["content"] = _content_blocks(message)
            elif isinstance(message.get("content"), str):
                result["content"] = message["content"]
            if message.get("is_error") is not None:
                result["is_error"] = message["is_error"]
            _append_turn(turns, "user", [result], plain=False)
            continue
        blocks = _content_blocks(message)
        plain = not message.get("parts") and not message.get("tool_calls")
        if role == "assistant":
            blocks += [_to_tool_use(call) for call in message.get("tool_calls") or []]
            _append_turn(turns, "assistant", blocks, plain)
        else:
            _append_turn(turns, "user", blocks, plain)
    for turn in turns:  # a turn that was one text is sent as a plain string, as it came
        blocks = turn["content"]
        if turn.pop("plain") and len(blocks) == 1 and blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
        elif not blocks:
            turn["content"] = ""
    if system_as_blocks:
        return system, turns
    return "\n\n".join(block["text"] for block in system if block.get("text")), turns


def _append_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], plain: bool) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
        turns[-1]["plain"] = False
    else:
        turns.append({"role": role, "content": list(blocks), "plain": plain})


def _plain_text(message: dict[str, Any]) -> str:
    if message.get("parts"):
        return "\n".join(p.get("text", "") for p in message["parts"] if p.get("type") == "text")
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Text and image blocks, with their cache marks, and Anthropic's own blocks as recorded;
    empty text is left out (the API rejects empty text blocks)."""
    if not message.get("parts"):
        text = _plain_text(message)
        return [{"type": "text", "text": text}] if text else []
    blocks = []
    for part in message["parts"]:
        mark = {"cache_control": part["cache_control"]} if "cache_control" in part else {}
        if part.get("type") == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"], **mark})
        elif part.get("type") == "image" and part.get("url"):
            blocks.append({"type": "image", "source": _image_source(part["url"]), **mark})
        elif part.get("type") in ANTHROPIC_BLOCKS or (part.get("type") == "image" and "source" in part):
            blocks.append(dict(part))  # as recorded from an Anthropic request
    return blocks


def _image_source(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[len("data:") :].split(";base64,", 1)
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _to_tool_use(call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        parsed = None
    # `input` must be an object; keep a model's malformed arguments rather than drop them.
    tool_input = parsed if isinstance(parsed, dict) else {"arguments": arguments}
    return {
        "type": "tool_use",
        "id": call.get("id") or "",
        "name": call.get("name") or "",
        "input": tool_input,
    }


def _to_anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if not isinstance(function, dict):
        return tool  # already in Anthropic's shape (a span recorded from the Anthropic SDK)
    converted = {
        "name": function.get("name", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _to_anthropic_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(choice)
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
        return choice  # already Anthropic's {"type": "auto" | "any" | "tool" | "none", …}
    return None


def from_anthropic_message(
    message: Message, requested_model: str, latency_ms: float, attempts: int
) -> CompletionResponse:
    """Content blocks -> one normalised assistant message; usage with cache tokens counted as
    prompt tokens, as OpenAI counts them."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append({"id": block.id, "name": block.name, "arguments": json.dumps(block.input)})
    finish = _FINISH_REASONS.get(message.stop_reason or "", message.stop_reason)
    output: dict[str, Any] = {"role": "assistant"}
    if texts or not calls:
        output["content"] = "".join(texts)
    if calls:
        output["tool_calls"] = calls
    if finish:
        output["finish_reason"] = finish
    usage = message.usage
    prompt_tokens = (
        usage.input_tokens + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    )
    return CompletionResponse(
        output_messages=[output],
        finish_reason=finish,
        prompt_tokens=prompt_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=prompt_tokens + usage.output_tokens,
        latency_ms=latency_ms,
        model=message.model or requested_model,
        attempts=attempts,
    )
