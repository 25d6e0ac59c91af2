"""Prints the fidelity table of docs/replay.md: for each instrumentation library installed, which
request arguments of one chat call it does not record, and whether a replay of it is exact.

Records the call of `tests/test_fidelity.py` (tools, an image with its detail, a JSON response
format and non-default parameters) through each library against the test LLM server, into a
real `tracereplay serve`, and asks the replay code's own verdict of the stored span.

Usage: .venv/bin/python bench/fidelity.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_server, stop_server
from tests.support.llm_server import LLMServer
from tests.test_fidelity import REQUEST, record
from tracereplay.ingest.records import SpanRecord
from tracereplay.replay.fidelity import assess

LIBRARIES = {
    "openinference": ("OpenInference", "openinference-instrumentation-openai"),
    "otel-genai": ("OpenTelemetry GenAI", "opentelemetry-instrumentation-openai-v2"),
    "traceloop": ("OpenLLMetry", "opentelemetry-instrumentation-openai"),
}
SPAN_FIELDS = ("attributes", "invocation_parameters", "input_messages", "output_messages", "tools")


def main() -> None:
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    home = Path(tempfile.mkdtemp(prefix="tracereplay-fidelity-")) / "home"
    home.mkdir(parents=True)
    with LLMServer() as llm:
        server = start_server(home, {"TRACEREPLAY_LOG_LEVEL": "warning"})
        try:
            print("| library | version | not recorded (a replay cannot send it) | replay |")
            print("|---|---|---|---|")
            for library, (label, package) in LIBRARIES.items():
                trace_id, _ = record(server, library, llm, f"table-{library}")
                stored = httpx.get(f"{server.url}/api/v1/traces/{trace_id}", headers=server.headers).json()
                (llm_span,) = [s for s in stored["spans"] if s["kind"] == "LLM"]
                now = datetime.now()
                span = SpanRecord(trace_id, llm_span["span_id"], None, llm_span["name"], now, now, kind="LLM",
                                  **{name: llm_span.get(name) for name in SPAN_FIELDS})  # fmt: skip
                findings = assess(span)
                dropped = [f"`{f.field}`" for f in findings if f.why.startswith("not recorded")]
                other = [f"`{f.field}`: {f.why}" for f in findings if not f.why.startswith("not recorded")]
                missing = "; ".join(filter(None, [", ".join(dropped), *other])) or "nothing"
                print(f"| {label} | {package} {version(package)} | {missing} | "
                      f"{'inexact' if findings else 'exact'} |")  # fmt: skip
            print(f"\nArguments sent: {', '.join(f'`{key}`' for key in REQUEST)}.")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
