"""Exact request capture: the body an OpenAI or Anthropic client actually sends, recorded on the
LLM span the instrumentation library opened for the call, so a replay can send that very
request again whatever the library records.

It works through the clients' own hook: both take an `http_client`, and httpx calls a request
hook with each request before sending it. Only the body of a POST is recorded (never a header:
the API key travels in one), as JSON text, when it is at most `max_bytes`; a larger one is
counted, not recorded.

    client = openai.OpenAI(http_client=tracereplay.capturing_http_client())
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from opentelemetry import trace

BODY = "tracereplay.request.body"  # the request body, JSON text
SIZE = "tracereplay.request.bytes"  # its size, recorded or not
MAX_BYTES = 256 * 1024


def request_recorder(max_bytes: int = MAX_BYTES) -> Callable[[httpx.Request], None]:
    """An httpx request hook that records the JSON body of each POST on the current span."""

    def record(request: httpx.Request) -> None:
        span = trace.get_current_span()
        if request.method != "POST" or not span.is_recording():
            return
        try:
            body = request.content  # a body being streamed is not read here: left unrecorded
        except httpx.RequestNotRead:
            return
        span.set_attribute(SIZE, len(body))
        if len(body) > max_bytes:
            return
        try:
            if not isinstance(json.loads(body), dict):
                return
        except ValueError:
            return
        span.set_attribute(BODY, body.decode("utf-8"))

    return record


def capturing_http_client(max_bytes: int = MAX_BYTES, **options: Any) -> httpx.Client:
    """An `httpx.Client` (with `options`) whose requests are recorded on the current span; give
    it to `openai.OpenAI(http_client=…)` or `anthropic.Anthropic(http_client=…)`."""
    hooks = dict(options.pop("event_hooks", None) or {})
    hooks["request"] = [*hooks.get("request", []), request_recorder(max_bytes)]
    return httpx.Client(event_hooks=hooks, **options)
