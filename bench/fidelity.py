"""Prints the fidelity table of docs/replay.md: for each instrumentation library and agent
framework installed, which request arguments of one call it does not record, and whether a
replay of it is exact, without and with the SDK's exact capture.

Records the calls of `tests/test_fidelity.py` (tools, an image, a JSON response format or
Anthropic's system blocks and cache marks, non-default parameters) through each library against
the test LLM server, into a real `tracereplay serve`, and asks the replay code's own verdict of
the stored span that counts the call.

Usage: .venv/bin/python bench/fidelity.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import RunningServer, start_server, stop_server
from tests.support.llm_server import LLMServer
from tests.test_fidelity import (
    CLAUDE_REQUEST,
    REQUEST,
    record,
    record_claude,
    record_langchain,
    record_pydantic_ai,
)
from tracereplay.ingest.records import SpanRecord
from tracereplay.replay.fidelity import Finding, assess

SPAN_FIELDS = ("attributes", "invocation_parameters", "input_messages", "output_messages", "tools",
               "provider")  # fmt: skip
Recorder = Callable[[RunningServer, LLMServer, str, bool], str]


def trace_named(server: RunningServer, name: str) -> str:
    listed = httpx.get(f"{server.url}/api/v1/traces", params={"name": name}, headers=server.headers).json()
    return str(listed["traces"][0]["trace_id"])


def openai_library(library: str) -> Recorder:
    return lambda server, llm, name, capture: record(server, library, llm, name, capture=capture)[0]


def anthropic_library(library: str) -> Recorder:
    return lambda server, llm, name, capture: record_claude(server, library, llm, name, capture=capture)[0]


def pydantic_ai(server: RunningServer, llm: LLMServer, name: str, capture: bool) -> str:
    record_pydantic_ai(server, llm, name)
    return trace_named(server, f"invoke_agent {name}")


def langchain(server: RunningServer, llm: LLMServer, name: str, capture: bool) -> str:
    record_langchain(server, llm, name)
    return trace_named(server, name)


OI, OTEL, OLLM = "openinference-instrumentation", "opentelemetry-instrumentation", "OpenLLMetry"
# (label, provider called, package, recorder, whether the SDK's capture applies to its client)
ROWS: list[tuple[str, str, str, Recorder, bool]] = [
    ("OpenInference", "OpenAI", f"{OI}-openai", openai_library("openinference"), True),
    ("OpenTelemetry GenAI", "OpenAI", f"{OTEL}-openai-v2", openai_library("otel-genai"), True),
    (OLLM, "OpenAI", f"{OTEL}-openai", openai_library("traceloop"), True),
    ("OpenInference", "Anthropic", f"{OI}-anthropic", anthropic_library("openinference"), True),
    (OLLM, "Anthropic", f"{OTEL}-anthropic", anthropic_library("openllmetry"), True),
    ("pydantic-ai (its own)", "OpenAI", "pydantic-ai-slim", pydantic_ai, False),
    ("LangChain + OpenInference", "OpenAI", f"{OI}-langchain", langchain, False),
]


def counted_span(server: RunningServer, trace_id: str) -> SpanRecord:
    """The stored LLM span that counts the call (another may record it too: the anthropic SDK's)."""
    stored = httpx.get(f"{server.url}/api/v1/traces/{trace_id}", headers=server.headers).json()
    (llm,) = [s for s in stored["spans"] if s["kind"] == "LLM" and s["same_call_as"] is None]
    now = datetime.now()
    return SpanRecord(trace_id, llm["span_id"], None, llm["name"], now, now, kind="LLM",
                      **{name: llm.get(name) for name in SPAN_FIELDS})  # fmt: skip


def described(findings: list[Finding]) -> str:
    dropped = [f"`{f.field}`" for f in findings if f.why.startswith("not recorded")]
    other = [f"`{f.field}`: {f.why}" for f in findings if not f.why.startswith("not recorded")]
    return "; ".join(filter(None, [", ".join(dropped), *other])) or "nothing"


def main() -> None:
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    home = Path(tempfile.mkdtemp(prefix="tracereplay-fidelity-")) / "home"
    home.mkdir(parents=True)
    with LLMServer() as llm:
        server = start_server(home, {"TRACEREPLAY_LOG_LEVEL": "warning"})
        try:
            print("| library | calls | version | not recorded (a replay cannot send it) | replay "
                  "| with the SDK's capture |")  # fmt: skip
            print("|---|---|---|---|---|---|")
            for index, (label, provider, package, recorder, capturable) in enumerate(ROWS):
                findings = assess(counted_span(server, recorder(server, llm, f"table-{index}", False)))
                captured: Any = "not measured"
                if capturable:
                    trace_id = recorder(server, llm, f"table-{index}-captured", True)
                    captured = "exact" if not assess(counted_span(server, trace_id)) else "inexact"
                print(f"| {label} | {provider} | {package} {version(package)} | {described(findings)} | "
                      f"{'inexact' if findings else 'exact'} | {captured} |")  # fmt: skip
            print(f"\nOpenAI arguments sent: {', '.join(f'`{key}`' for key in REQUEST)}.")
            claude = ", ".join(f"`{key}`" for key in CLAUDE_REQUEST)
            print(f"Anthropic arguments sent: {claude}, `top_p`, `top_k`.")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
