"""A scriptable OpenAI-compatible LLM endpoint that tests run on loopback.

It speaks real HTTP so the official SDKs, and the instrumentation libraries wrapped around
them, exercise their whole request path. Answers come from a queue of scripted items
(`Reply` or `Failure`); when the queue is empty a deterministic echo answer is produced.
Replies are provider-neutral (text, tool calls, token counts), rendered in OpenAI's wire format
(`/v1/chat/completions`, `/v1/completions`) or Anthropic's (`/v1/messages`, non-streaming; point
the Anthropic SDK at `anthropic_base_url`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ToolCall:
    name: str
    arguments: str | dict[str, Any] = "{}"
    id: str | None = None  # generated ("call_1", "call_2", ...) when not given

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass
class Reply:
    """One scripted answer. Token counts default to word counts of prompt and answer."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None  # "stop", or "tool_calls" when there are tool calls
    model: str | None = None  # defaults to the requested model
    latency: float | None = None  # seconds before answering; overrides the server's latency
    chunk_delay: float = 0.0  # seconds between streamed chunks


@dataclass
class Failure:
    """A scripted failure: an HTTP error status, or a hang the client must time out on."""

    status: int = 500
    message: str = "scripted failure"
    retry_after: float | None = None
    hang: float = 0.0  # seconds to stall before closing the connection without an answer

    @classmethod
    def rate_limited(cls, retry_after: float = 0) -> Failure:
        return cls(status=429, message="Rate limit reached", retry_after=retry_after)

    @classmethod
    def server_error(cls, message: str = "The server had an error") -> Failure:
        return cls(status=500, message=message)

    @classmethod
    def hang_for(cls, seconds: float) -> Failure:
        return cls(status=0, message="hang", hang=seconds)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any


Scripted = Reply | Failure

# Keys whose values are identifiers, not text a tokenizer would see as prompt words.
_NOT_WORDS = frozenset({"role", "type", "id", "tool_call_id"})


def count_words(value: Any) -> int:
    """The test server's stand-in for a tokenizer: whitespace-separated words in every string."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k not in _NOT_WORDS)
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    return 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def echo_reply(body: dict[str, Any]) -> Reply:
    """The default answer: "Echo: <last user text>", cut to max_tokens words."""
    if "messages" in body:
        users = [m for m in body["messages"] if m.get("role") == "user"]
        prompt = _text_of(users[-1].get("content")) if users else ""
    else:
        raw = body.get("prompt", "")
        prompt = raw[0] if isinstance(raw, list) and raw else str(raw)
    words = ["Echo:", *prompt.split()]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(words):
        return Reply(text=" ".join(words[:limit]), finish_reason="length")
    return Reply(text=" ".join(words))


class LLMServer:
    """Start with `start()` (or as a context manager); point clients at `base_url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripted: deque[Scripted] = deque()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.llm = self
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []
        self.latency = 0.0
        self.models = ["gpt-4o-mini", "gpt-4o"]
        self.default: Callable[[dict[str, Any]], Reply] = echo_reply

    # -- life cycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic SDK adds `/v1/messages` to its base URL itself."""
        return self.base_url.removesuffix("/v1")

    def start(self) -> LLMServer:
        # A short poll interval keeps stop() fast; the idle wake-ups cost nothing measurable.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake_sleepers()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a fresh state between tests; wakes any request still stalled."""
        self._wake_sleepers()
        with self._lock:
            self._scripted.clear()
            self.requests.clear()
            self._ids = itertools.count(1)
        self.latency = 0.0
        self.models = ["gpt-4o-mini", "gpt-4o"]
        self.default = echo_reply

    # -- scripting ----------------------------------------------------------------------
    def script(self, *items: Scripted | str) -> None:
        """Queue answers in order; a plain string is a text `Reply`."""
        with self._lock:
            for item in items:
                self._scripted.append(Reply(text=item) if isinstance(item, str) else item)

    @property
    def pending(self) -> int:
        return len(self._scripted)

    @property
    def bodies(self) -> list[Any]:
        """Bodies of the POST requests received, oldest first."""
        return [r.body for r in self.requests if r.method == "POST"]

    # -- used by the handler ------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> Scripted | None:
        with self._lock:
            return self._scripted.popleft() if self._scripted else None

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            # Waiting on an event instead of time.sleep lets reset()/stop() free stalled threads.
            self._release.wait(seconds)

    def _wake_sleepers(self) -> None:
        old, self._release = self._release, threading.Event()
        old.set()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Don't join handler threads on close: a scripted hang may still be sleeping.
    block_on_close = False
    llm: LLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or disconnect mid-answer are expected here, not errors.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body would wait for the
    # client's delayed ACK (~40 ms on Linux) and every answer would be that much late.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- dispatch -----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._dispatch("POST", raw.decode("utf-8", "replace"), bad_json=True)
            return
        self._dispatch("POST", body)

    def _dispatch(self, method: str, body: Any, bad_json: bool = False) -> None:
        llm = self.server.llm
        path = self.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        llm._record(RecordedRequest(method, path, headers, body))
        route = _ROUTES.get((method, path))
        try:
            if route is None:
                self._send_error(404, f"Unknown path {method} {path}", "invalid_request_error")
            elif bad_json:
                self._send_error(400, "Request body is not JSON", "invalid_request_error")
            else:
                route(self, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, body: dict[str, Any]) -> Reply | None:
        """The reply to render, or None when a scripted failure was sent instead."""
        llm = self.server.llm
        item = llm._next()
        if isinstance(item, Failure):
            if item.hang:
                llm._sleep(item.hang)
                self.close_connection = True
                return None
            headers = {}
            if item.retry_after is not None:
                seconds = item.retry_after
                headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
            error_type = "rate_limit_error" if item.status == 429 else "server_error"
            self._send_error(item.status, item.message, error_type, headers)
            return None
        reply = item if item is not None else llm.default(body)
        llm._sleep(llm.latency if reply.latency is None else reply.latency)
        return reply

    # -- routes -------------------------------------------------------------------------
    def _models(self, body: Any) -> None:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "tracereplay-tests"}
                for m in self.server.llm.models]  # fmt: skip
        self._send_json(200, {"object": "list", "data": data})

    def _chat_completions(self, body: dict[str, Any]) -> None:
        reply = self._answer(body)
        if reply is None:
            return
        llm = self.server.llm
        n = body.get("n") or 1
        completion_id = f"chatcmpl-{llm._next_id()}"
        calls = [
            {"id": c.id or f"call_{llm._next_id()}", "type": "function",
             "function": {"name": c.name, "arguments": c.arguments_json()}}
            for c in reply.tool_calls
        ]  # fmt: skip
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage = _usage(reply, body.get("messages", []), calls, n)
        model = reply.model or body.get("model", "unknown")
        if body.get("stream"):
            chunks = self._chat_chunks(completion_id, model, reply, calls, finish, usage, body)
            self._stream(chunks, reply.chunk_delay)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                   for i in range(n)]  # fmt: skip
        self._send_json(200, {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": choices, "usage": usage,
            "system_fingerprint": "fp_tracereplay",
        })  # fmt: skip

    def _chat_chunks(
        self,
        completion_id: str,
        model: str,
        reply: Reply,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int],
        body: dict[str, Any],
    ) -> Iterator[dict[str, Any]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "system_fingerprint": "fp_tracereplay"}  # fmt: skip
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**base, "choices": [choice]}

        yield chunk({"role": "assistant", "content": "" if reply.text is not None else None})
        for piece in _pieces(reply.text or ""):
            yield chunk({"content": piece})
        for index, call in enumerate(calls):
            function = call["function"]
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": function["name"], "arguments": ""}}  # fmt: skip
            yield chunk({"tool_calls": [head]})
            args = function["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
        yield chunk({}, finish)
        if include_usage:
            yield {**base, "choices": [], "usage": usage}

    def _completions(self, body: dict[str, Any]) -> None:
        reply = self._answer(body)
        if reply is None:
            return
        llm = self.server.llm
        completion_id = f"cmpl-{llm._next_id()}"
        text = reply.text or ""
        finish = reply.finish_reason or "stop"
        usage = _usage(reply, body.get("prompt", ""), [], 1)
        model = reply.model or body.get("model", "unknown")
        base = {"id": completion_id, "object": "text_completion", "created": int(time.time()),
                "model": model}  # fmt: skip
        if not body.get("stream"):
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
            self._send_json(200, {**base, "choices": [choice], "usage": usage})
            return

        def chunks() -> Iterator[dict[str, Any]]:
            for piece in _pieces(text):
                yield {**base, "choices": [{"text": piece, "index": 0, "logprobs": None,
                                            "finish_reason": None}]}  # fmt: skip
            yield {**base, "choices": [{"text": "", "index": 0, "logprobs": None,
                                        "finish_reason": finish}]}  # fmt: skip
            if (body.get("stream_options") or {}).get("include_usage"):
                yield {**base, "choices": [], "usage": usage}

        self._stream(chunks(), reply.chunk_delay)

    def _messages(self, body: dict[str, Any]) -> None:
        """Anthropic's Messages API, non-streaming: the same scripted replies, Anthropic's shape."""
        if body.get("stream"):
            self._send_error(400, "The test server does not stream /v1/messages", "invalid_request_error")
            return
        reply = self._answer(body)
        if reply is None:
            return
        llm = self.server.llm
        content: list[dict[str, Any]] = []
        if reply.text is not None:
            content.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            arguments = json.loads(call.arguments_json())
            content.append({"type": "tool_use", "id": call.id or f"toolu_{llm._next_id()}",
                            "name": call.name, "input": arguments})  # fmt: skip
        stop_reason = _ANTHROPIC_STOP_REASONS.get(reply.finish_reason or "", reply.finish_reason)
        tool_uses = [block for block in content if block["type"] == "tool_use"]
        usage = _usage(reply, [body.get("system"), body.get("messages", [])], tool_uses, 1)
        self._send_json(200, {
            "id": f"msg_{llm._next_id()}", "type": "message", "role": "assistant",
            "model": reply.model or body.get("model", "unknown"), "content": content,
            "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
        })  # fmt: skip

    # -- wire helpers -------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self, status: int, message: str, error_type: str, headers: dict[str, str] | None = None
    ) -> None:
        if self.path.startswith("/v1/messages"):  # Anthropic's error envelope
            anthropic_error = {"type": "error", "error": {"type": error_type, "message": message}}
            self._send_json(status, anthropic_error, headers)
            return
        error = {"message": message, "type": error_type, "param": None, "code": None}
        self._send_json(status, {"error": error}, headers)

    def _stream(self, events: Iterator[dict[str, Any]], chunk_delay: float = 0.0) -> None:
        # Server-sent events over chunked encoding, so the connection stays reusable.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
            self.server.llm._sleep(chunk_delay)
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _pieces(text: str) -> list[str]:
    """Split text into stream deltas that join back to exactly the original."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


def _usage(reply: Reply, prompt: Any, calls: list[dict[str, Any]], n: int) -> dict[str, int]:
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else count_words(prompt)
    if reply.completion_tokens is not None:
        completion_tokens = reply.completion_tokens
    else:
        completion_tokens = n * (count_words(reply.text or "") + count_words(calls))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


# The test server's replies speak OpenAI finish reasons; Anthropic names them differently.
_ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

_ROUTES: dict[tuple[str, str], Callable[[_Handler, Any], None]] = {
    ("GET", "/v1/models"): _Handler._models,
    ("POST", "/v1/chat/completions"): _Handler._chat_completions,
    ("POST", "/v1/completions"): _Handler._completions,
    ("POST", "/v1/messages"): _Handler._messages,
}
