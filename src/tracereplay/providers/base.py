"""The one interface every LLM provider implements, its request/response shapes and its errors.

Requests and responses use the normalised shapes of `tracereplay.ingest.conventions`
(messages with role/content/parts/tool_calls/tool_call_id/name, tools in OpenAI function
shape), so a replay hands a stored span's input to any provider unchanged. Each provider
module translates those shapes to and from its SDK and converts the SDK's exceptions into
the errors below at its boundary.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracereplay.errors import TraceReplayError

# Content blocks of Anthropic's Messages API with no normalised form: a span recorded from an
# Anthropic request holds them as they were sent (`ingest.conventions.anthropic_request`).
ANTHROPIC_BLOCKS = frozenset(
    {"document", "thinking", "redacted_thinking", "search_result", "tool_use", "tool_result",
     "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
     "mcp_tool_use", "mcp_tool_result", "container_upload"}
)  # fmt: skip


@dataclass
class CompletionRequest:
    """One LLM call: a model name (without provider prefix), normalised messages and tools, and
    invocation parameters by their OpenAI names (temperature, max_tokens, top_p, stop, seed,
    response_format, tool_choice, …)."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompletionResponse:
    """What the model answered, normalised: assistant messages (content and/or tool_calls, plus
    finish_reason), OpenAI finish-reason names, token usage and latency.

    `latency_ms` is the duration of the attempt that succeeded, so retry back-off caused by
    replay load does not show up as model latency; `attempts` says how many were made.
    """

    output_messages: list[dict[str, Any]]
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    latency_ms: float
    model: str
    attempts: int = 1


class ProviderError(TraceReplayError):
    """An LLM call failed after the provider's retries. Its text never holds an API key."""

    status = 502
    code = "provider_error"


class ProviderNotConfigured(TraceReplayError):
    """A replay names a provider the server has no credentials or endpoint for."""

    status = 422
    code = "provider_not_configured"


class UnknownModel(TraceReplayError):
    """A model name that no configured provider lists and no naming convention recognises."""

    status = 422
    code = "unknown_model"


@dataclass(frozen=True)
class CallPolicy:
    """How one provider's calls are made: per-attempt timeout, retries left to the SDK (which
    backs off exponentially and honours Retry-After on 408/409/429/5xx, timeouts and
    connection errors), and the most calls in flight at once."""

    timeout_seconds: float = 60.0
    max_retries: int = 4
    concurrency: int = 8


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced; providers echo keys in some error bodies."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_retried_status(status: int) -> bool:
    """Statuses both SDKs retry (absent an `x-should-retry` header saying otherwise)."""
    return status in (408, 409, 429) or status >= 500


# The longest Retry-After a call waits (the openai SDK's own limit); past it, the call fails.
MAX_RETRY_AFTER_SECONDS = 120.0


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for: `retry-after-ms`, or `Retry-After` in seconds or as a date."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return (email.utils.parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None


def api_error_text(body: object, fallback: str) -> str:
    """The human part of an API error body: OpenAI's `{"message"}` (the SDK unwraps `error`)
    or Anthropic's `{"type": "error", "error": {"message"}}`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return fallback


class Provider(ABC):
    """An LLM backend. `complete` is synchronous: replay workers are threads.

    At most `concurrency` calls of one provider run at once in a process; further callers
    wait for a slot, so however many replays run, one provider is not flooded by them.
    """

    name: str

    def __init__(self, name: str, policy: CallPolicy, *, secrets: Iterable[str | None] = ()) -> None:
        self.name = name
        self.policy = policy
        self._secrets = [s for s in secrets if s]
        self._slots = threading.BoundedSemaphore(policy.concurrency)

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        with self._slots:
            return self._complete(request)

    @abstractmethod
    def _complete(self, request: CompletionRequest) -> CompletionResponse:
        """Make the call (retries included); raise `ProviderError` when it fails."""

    def understands(self, parameter: str) -> bool:
        """Whether an invocation parameter means something to this provider. A replay that moves
        a span to another provider leaves out the recorded parameters it does not understand
        (Anthropic's `top_k` would make OpenAI answer 400); its own modelParameters always go."""
        return True

    @abstractmethod
    def models(self) -> list[str]:
        """The model names this provider is known or configured to serve."""

    def close(self) -> None:  # noqa: B027 - optional hook: a provider may hold no connections
        """Release connections; the provider is not used afterwards."""

    def failure(
        self, model: str, what: str, *, retried: bool = False, http_status: int | None = None
    ) -> ProviderError:
        """The error for a failed call: provider, model and what failed, with secrets removed."""
        note = (
            f" (retried up to {self.policy.max_retries} times)" if retried and self.policy.max_retries else ""
        )
        what = what if len(what) <= 500 else what[:500] + "…"
        message = redact(f"{self.name} call to model '{model}' {what}{note}", self._secrets)
        details = {"provider": self.name, "model": model, "http_status": http_status}
        return ProviderError(message, details=details)


@dataclass(frozen=True)
class SDKErrors:
    """An official SDK's exception classes (both SDKs share this shape; timeout errors are a
    kind of connection error, so they are checked first)."""

    timeout: type[Exception]
    connection: type[Exception]
    status: type[Exception]
    base: type[Exception]


def call_sdk(
    provider: Provider, model: str, base_url: str, errors: SDKErrors, create: Callable[[], Any]
) -> tuple[Any, float, int]:
    """Run one SDK call made with `with_raw_response` (the SDK's retries included).

    Returns the parsed response, the latency of the attempt that succeeded and the number of
    attempts; the SDK's exceptions become `ProviderError`s at this boundary.
    """
    stopwatch = Stopwatch()
    try:
        raw = create()
        parsed = raw.parse()
    except errors.timeout as exc:
        timeout = provider.policy.timeout_seconds
        raise provider.failure(model, f"timed out after {timeout:g} s", retried=True) from exc
    except errors.connection as exc:
        raise provider.failure(model, f"could not reach {base_url}", retried=True) from exc
    except errors.status as exc:
        status = int(getattr(exc, "status_code", 0))
        text = api_error_text(getattr(exc, "body", None), str(getattr(exc, "message", exc)))
        retried = is_retried_status(status)
        response = getattr(exc, "response", None)
        wait = retry_after_seconds(response.headers) if response is not None else None
        if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
            limit = MAX_RETRY_AFTER_SECONDS
            text += f"; it asked to retry after {wait:g} s, longer than a replay waits ({limit:g} s)"
            retried = False
        raise provider.failure(
            model, f"failed with HTTP {status} from {base_url}: {text}", retried=retried, http_status=status
        ) from exc
    except errors.base as exc:
        raise provider.failure(model, f"failed: {exc}") from exc
    try:
        latency_ms = raw.elapsed.total_seconds() * 1000.0
    except RuntimeError:  # the response was not closed: no elapsed time recorded
        latency_ms = stopwatch.elapsed_ms()
    return parsed, latency_ms, raw.retries_taken + 1


class Stopwatch:
    """Wall-clock milliseconds since creation: the fallback latency when the SDK cannot tell
    the duration of the final attempt."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000.0


# Dated snapshots ("gpt-4o-2024-08-06", "claude-haiku-4-5-20251001", "gpt-4-0613") add length,
# not choice, to a model list; their undated alias is listed instead.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


def sdk_model_names(annotation: object, exclude: Iterable[str] = ()) -> list[str]:
    """The model names an SDK declares in its `Literal[...]` model type, without dated
    snapshots: a list that stays current as the SDK is upgraded. Any other name still works."""
    names: list[str] = []
    pending = [annotation]
    while pending:
        current = pending.pop(0)
        for arg in typing.get_args(current):
            if isinstance(arg, str):
                names.append(arg)
            else:
                pending.append(arg)
    skip = set(exclude)
    return [n for n in dict.fromkeys(names) if n not in skip and not _SNAPSHOT.search(n)]
