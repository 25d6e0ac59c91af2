"""OpenAI and every OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, LM Studio, Groq,
Together, OpenRouter, Azure's `/openai/v1`) through the official `openai` SDK's sync client.

Retries, exponential back-off and `Retry-After` are the SDK's own (`max_retries`); the
per-attempt timeout is the client's `timeout`. The key and base URL come from `Settings` and
are passed explicitly, so the SDK's own environment look-up for them never applies.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from typing import Any

import openai
from openai.resources.chat import Completions
from openai.types import ChatModel
from openai.types.chat import ChatCompletion

from tracereplay.providers.base import (
    ANTHROPIC_BLOCKS,
    CallPolicy,
    CompletionRequest,
    CompletionResponse,
    Provider,
    SDKErrors,
    call_sdk,
    sdk_model_names,
)

OPENAI_ERRORS = SDKErrors(
    openai.APITimeoutError, openai.APIConnectionError, openai.APIStatusError, openai.OpenAIError
)

OPENAI_BASE_URL = "https://api.openai.com/v1"


def openai_models() -> list[str]:
    """OpenAI's chat models as the installed SDK knows them."""
    return sdk_model_names(ChatModel)


# The SDK insists on a key even for local servers that ignore it (Ollama, llama.cpp server).
_PLACEHOLDER_KEY = "no-key-needed"

# Request fields this module sets itself, never from a span's invocation parameters: a replay
# is one non-streamed call with the span's own messages and tools.
_OWNED = frozenset(
    {"self", "model", "messages", "tools", "stream", "stream_options", "timeout",
     "extra_headers", "extra_query", "extra_body"}
)  # fmt: skip

# Parameters the installed SDK accepts by name; any other goes into `extra_body`, so server
# extras (vLLM's `top_k`, `repetition_penalty`, …) survive the SDK's keyword checking.
_NAMED_PARAMETERS = frozenset(inspect.signature(Completions.create).parameters) - _OWNED


class OpenAIProvider(Provider):
    """One OpenAI-compatible endpoint: `name` is how replays address it (`name:model`)."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None,
        models: Iterable[str] = (),
        policy: CallPolicy,
    ) -> None:
        super().__init__(name, policy, secrets=[api_key])
        self.base_url = base_url
        self._models = list(models)
        self._client = openai.OpenAI(
            api_key=api_key or _PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=policy.timeout_seconds,
            max_retries=policy.max_retries,
        )

    def models(self) -> list[str]:
        return list(self._models)

    def understands(self, parameter: str) -> bool:
        return parameter in _NAMED_PARAMETERS

    def close(self) -> None:
        self._client.close()

    def _complete(self, request: CompletionRequest) -> CompletionResponse:
        call: dict[str, Any] = {"model": request.model, "messages": to_openai_messages(request.messages)}
        tools = [tool for tool in request.tools or () if tool.get("type") == "function"]
        if tools:  # an Anthropic server tool (recorded from a Claude call) has no equal here
            call["tools"] = tools
        extra: dict[str, Any] = {}
        for key, value in _from_anthropic(request.parameters).items():
            if key in _OWNED or value is None:
                continue
            (call if key in _NAMED_PARAMETERS else extra)[key] = value
        if extra:
            call["extra_body"] = extra
        completion, latency_ms, attempts = call_sdk(
            self, request.model, self.base_url, OPENAI_ERRORS,
            lambda: self._client.chat.completions.with_raw_response.create(**call),
        )  # fmt: skip
        return from_openai_completion(completion, request.model, latency_ms, attempts)


_ANTHROPIC_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _from_anthropic(parameters: dict[str, Any]) -> dict[str, Any]:
    """Arguments recorded from a Claude call, in chat completions' terms where it has them:
    Anthropic's `tool_choice` object, and `metadata.user_id` as `user`."""
    converted = dict(parameters)
    choice = parameters.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in (*_ANTHROPIC_CHOICES, "tool"):
        kind = choice["type"]
        converted["tool_choice"] = (
            {"type": "function", "function": {"name": choice.get("name", "")}}
            if kind == "tool" else _ANTHROPIC_CHOICES[kind]
        )  # fmt: skip
        if choice.get("disable_parallel_tool_use"):
            converted["parallel_tool_calls"] = False
    metadata = parameters.get("metadata")
    if isinstance(metadata, dict) and set(metadata) == {"user_id"}:
        converted.pop("metadata")
        converted.setdefault("user", metadata["user_id"])
    return converted


def to_openai_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised messages -> chat.completions `messages`."""
    converted = []
    for message in messages:
        role = message.get("role") or "user"
        out: dict[str, Any] = {"role": role}
        if message.get("parts"):
            out["content"] = [p for p in map(_to_openai_part, message["parts"]) if p is not None]
        elif message.get("content") is not None:
            out["content"] = message["content"]
        elif role != "assistant" or not message.get("tool_calls"):
            out["content"] = ""  # only an assistant turn with tool calls may omit content
        if message.get("tool_calls"):
            out["tool_calls"] = [_to_openai_tool_call(call) for call in message["tool_calls"]]
        if role == "tool":
            out["tool_call_id"] = message.get("tool_call_id") or ""
        elif message.get("name"):
            out["name"] = message["name"]
        for key in ("refusal", "audio"):  # an assistant turn's refusal, and its audio answer's id
            if message.get(key) is not None:
                out[key] = message[key]
        converted.append(out)
    return converted


def _to_openai_part(part: dict[str, Any]) -> dict[str, Any] | None:
    """A content part as chat completions takes it; None for Anthropic's own blocks (a Claude
    call replayed on another model), which it has no equal for."""
    kind = part.get("type")
    if kind == "image" and "url" in part:
        detail = {"detail": part["detail"]} if part.get("detail") else {}
        return {"type": "image_url", "image_url": {"url": part["url"], **detail}}
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}  # without Anthropic's cache marks
    if kind in ANTHROPIC_BLOCKS or kind == "image":
        return None
    return part  # other kinds (audio, files) are passed on as recorded


def _to_openai_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {})
    function = {"name": call.get("name") or "", "arguments": arguments}
    return {"id": call.get("id") or "", "type": "function", "function": function}


def from_openai_completion(
    completion: ChatCompletion, requested_model: str, latency_ms: float, attempts: int
) -> CompletionResponse:
    """A chat completion -> normalised assistant messages (one per choice) and usage."""
    messages: list[dict[str, Any]] = []
    for choice in completion.choices:
        message: dict[str, Any] = {"role": "assistant"}
        content = choice.message.content
        if content is None:
            content = choice.message.refusal  # a refusal is the answer the user would see
        if content is not None:
            message["content"] = content
        calls = []
        for call in choice.message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is not None:
                calls.append({"id": call.id, "name": function.name, "arguments": function.arguments})
        if calls:
            message["tool_calls"] = calls
        if choice.finish_reason:
            message["finish_reason"] = choice.finish_reason
        messages.append(message)
    usage = completion.usage
    return CompletionResponse(
        output_messages=messages,
        finish_reason=completion.choices[0].finish_reason if completion.choices else None,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        total_tokens=usage.total_tokens if usage else None,
        latency_ms=latency_ms,
        model=completion.model or requested_model,
        attempts=attempts,
    )
