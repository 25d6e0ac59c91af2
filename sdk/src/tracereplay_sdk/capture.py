"""Exact request capture: the body an OpenAI or Anthropic client actually sends, recorded on the
LLM span the instrumentation library opened for the call, so a replay can send that very
request again whatever the library records.

It works through the clients' own hook: both take an `http_client`, and httpx calls a request
hook with each request before sending it. Only the body of a POST is recorded (never a header:
the API key travels in one; top-level body keys naming a key, token, secret or password are
left out too), as JSON text, when it is at most `max_bytes`; a larger one is counted, not
recorded. It records the prompts whatever the instrumentation's content-capture setting says:
use it where recording content is allowed. Synchronous clients only (httpx awaits an async
client's hooks).

    client = openai.OpenAI(http_client=tracereplay_sdk.capturing_http_client())
    client = anthropic.Anthropic(http_client=tracereplay_sdk.capturing_http_client(sdk="anthropic"))

With the anthropic SDK's own telemetry on (2.x), the body lands on the SDK's span, the current
one while the request is sent; the server counts the call through the span holding the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
from opentelemetry import trace

BODY = "tracereplay.request.body"  # the request body, JSON text
SIZE = "tracereplay.request.bytes"  # its size, recorded or not
PATH = "tracereplay.request.path"  # the API it went to (the server reads chat completions)
# Top-level body keys left out: credentials some gateways take in the body (`max_tokens` is not one).
SECRET_KEYS = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth", "authorization",
                         "secret", "client_secret", "password"})  # fmt: skip
SECRET_SUFFIXES = ("_api_key", "_secret", "_password", "_access_token", "authorization_token", "_auth_token")
MAX_BYTES = 256 * 1024


def request_recorder(max_bytes: int = MAX_BYTES) -> Callable[[httpx.Request], None]:
    """An httpx request hook that records the JSON body of each POST on the current span."""

    def record(request: httpx.Request) -> None:
        try:
            _record(request, max_bytes)
        except Exception:  # recording must never fail the app's request
            return

    return record


def _record(request: httpx.Request, max_bytes: int) -> None:
    span = trace.get_current_span()
    if request.method != "POST" or not span.is_recording():
        return
    body = request.content  # a body being streamed raises here (RequestNotRead): left unrecorded
    span.set_attribute(SIZE, len(body))
    span.set_attribute(PATH, request.url.path)
    if len(body) > max_bytes:
        return
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        return
    kept, removed = _without_secrets(parsed)
    if removed:  # credentials in the body (a gateway's key, an MCP server's token): never recorded
        body = json.dumps(kept).encode()
    span.set_attribute(BODY, body.decode("utf-8"))


def _secret(key: str) -> bool:
    key = key.lower()
    return key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES)


def _without_secrets(value: Any) -> tuple[Any, bool]:
    """`value` without the keys naming a credential, at any depth; and whether any was there."""
    if isinstance(value, dict):
        removed = False
        kept = {}
        for key, item in value.items():
            if isinstance(key, str) and _secret(key):
                removed = True
                continue
            kept[key], inner = _without_secrets(item)
            removed = removed or inner
        return kept, removed
    if isinstance(value, list):
        items = [_without_secrets(item) for item in value]
        return [item for item, _ in items], any(inner for _, inner in items)
    return value, False


def _major_version(package: str) -> int:
    try:
        return int(version(package).split(".", 1)[0])
    except (PackageNotFoundError, ValueError):
        return 0


def capturing_http_client(max_bytes: int = MAX_BYTES, *, sdk: str = "openai", **options: Any) -> Any:
    """An HTTP client (with `options`) whose requests are recorded on the current span: give it
    to `openai.OpenAI(http_client=…)`, or with `sdk="anthropic"` to
    `anthropic.Anthropic(http_client=…)` (an `httpx2.Client` for the anthropic SDK 2.x, which
    sends through httpx2; an `httpx.Client` for earlier releases)."""
    if sdk not in ("openai", "anthropic"):
        raise ValueError(f"sdk is 'openai' or 'anthropic', not {sdk!r}")
    module: Any = httpx
    if sdk == "anthropic" and _major_version("anthropic") >= 2:
        import httpx2  # the anthropic SDK 2.x's HTTP client (the same API as httpx)

        module = httpx2
    hooks = dict(options.pop("event_hooks", None) or {})
    hooks["request"] = [*hooks.get("request", []), request_recorder(max_bytes)]
    return module.Client(event_hooks=hooks, **options)
