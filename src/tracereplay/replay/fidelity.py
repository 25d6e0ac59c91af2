"""How faithfully an LLM span can be replayed: `exact` when the request it records is the
request the app sent, else what is unknown.

What a span does not hold cannot be sent again, and nothing in a span says which request
arguments its instrumentation left out. So the verdict combines what each instrumentation is
known not to record (measured: an app sent every argument through the library, and the
recorded span was read back) with what the span itself gives away: tool calls in its input or
output but no tool definitions, an image without its `detail`, a JSON-schema response format
without its schema. Pure functions over span records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tracereplay.ingest.conventions import genai, openinference, openllmetry, request_body
from tracereplay.ingest.records import SpanRecord

# Request arguments each instrumentation drops, by the convention that reads its spans. A span
# that records one anyway (a newer version) is not held to it.
NOT_RECORDED: dict[str, tuple[str, ...]] = {
    # `llm.invocation_parameters` holds every argument of the call, tools beside it.
    "openinference": (),
    # opentelemetry-instrumentation-openai (OpenLLMetry / Traceloop)
    "openllmetry": ("seed", "stop", "tool_choice", "parallel_tool_calls", "logit_bias"),
    # opentelemetry-instrumentation-openai-v2 (the official OTel GenAI one)
    "genai": ("tools", "tool_choice", "parallel_tool_calls", "logit_bias", "user"),
}
OPENLLMETRY_KEYS = ("gen_ai.is_streaming", "gen_ai.openai.api_base")
LIBRARIES = {
    "openinference": "OpenInference",
    "openllmetry": "OpenLLMetry",
    "genai": "this OpenTelemetry GenAI instrumentation",
}


@dataclass(frozen=True)
class Finding:
    """One part of the request that a replay cannot send as the app did."""

    field: str  # the request argument: tools, tool_choice, messages, response_format…
    why: str  # read after the field: "seed: not recorded by OpenLLMetry"

    def __str__(self) -> str:
        return f"{self.field}: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "why": self.why}


def convention_of(span: SpanRecord) -> str | None:
    """Which convention's instrumentation recorded the span (None: another producer, such as
    the JSON API or a replay)."""
    attributes = span.attributes or {}
    if openinference.detect(attributes):
        return "openinference"
    # Recent OpenLLMetry writes the current GenAI semconv, but keeps keys of its own.
    if openllmetry.detect(attributes) or any(key in attributes for key in OPENLLMETRY_KEYS):
        return "openllmetry"
    if genai.detect(attributes):
        return "genai"
    return None


def _tool_calls(messages: Iterable[dict[str, Any]] | None) -> list[str]:
    return [str(call.get("name")) for message in messages or [] for call in message.get("tool_calls") or []]


def _images_without_detail(messages: Iterable[dict[str, Any]] | None) -> int:
    count = 0
    for message in messages or []:
        for part in message.get("parts") or []:
            if (
                isinstance(part, dict)
                and part.get("type") in ("image", "image_url")
                and not part.get("detail")
            ):
                count += 1
    return count


def assess(span: SpanRecord, *, reconstructing: bool = False, chosen: Iterable[str] = ()) -> list[Finding]:
    """What is unknown of the request this LLM span recorded; empty: the replay is exact.
    `reconstructing`: tool definitions missing beside tool calls are rebuilt from the calls,
    and said so. `chosen`: arguments the replay sets itself (its `modelParameters`), unknown no
    longer. A request the SDK captured whole is exact, whatever recorded the span."""
    given = set(chosen)
    return [finding for finding in _findings(span, reconstructing) if finding.field not in given]


def _findings(span: SpanRecord, reconstructing: bool) -> list[Finding]:
    if span.attributes and request_body.extract(span.attributes):
        return []  # the chat request, as sent: read into this span
    convention = convention_of(span)
    parameters = span.invocation_parameters or {}
    attributes = span.attributes or {}
    findings = []
    # The gaps were measured on the OpenAI instrumentations: another provider's calls (through
    # an Anthropic or Bedrock instrumentation) are not held to them.
    measured = (span.provider or "openai").lower() == "openai"
    for field in NOT_RECORDED.get(convention or "", ()) if measured else ():
        if field in parameters or (field == "tools" and span.tools):
            continue
        library = LIBRARIES[convention or ""]
        findings.append(Finding(field, f"not recorded by {library}"))
    calls = _tool_calls(span.input_messages) + _tool_calls(span.output_messages)
    if calls and not span.tools:
        names = ", ".join(sorted(set(calls)))
        told = f"no tool definitions recorded; {len(calls)} tool call(s) in this call name {names}"
        if reconstructing:
            told = f"reconstructed from {len(calls)} tool call(s) ({names}): names and argument shapes only"
        findings = [f for f in findings if f.field != "tools"] + [Finding("tools", told)]
    # An image without `detail` is unknown only where the library drops it; elsewhere the app
    # sent none (the API's default, auto).
    images = _images_without_detail(span.input_messages) if convention == "openllmetry" else 0
    if images:
        findings.append(Finding("messages", f"{images} image(s) recorded without their detail"))
    response_format = parameters.get("response_format")
    schemaless = (
        isinstance(response_format, dict)
        and response_format.get("type") == "json_schema"
        and not response_format.get("json_schema")
    )
    if schemaless or attributes.get("gen_ai.openai.request.response_format") == "json_schema":
        findings.append(
            Finding("response_format", "a JSON-schema response format recorded without its schema")
        )
    recorded = genai.parse_json(attributes.get("gen_ai.request.structured_output_schema"))
    if isinstance(recorded, dict) and recorded.get("type") not in ("json_object", "json_schema", "text"):
        findings.append(
            Finding(
                "response_format",
                "rebuilt from the recorded output schema: its name and strict flag are unknown",
            )
        )
    elif (
        "gen_ai.output.type" in attributes
        and "response_format" in parameters
        and recorded is None
        and ("gen_ai.openai.request.response_format" not in attributes)
    ):
        findings.append(Finding("response_format", "inferred from gen_ai.output.type"))
    return findings


def _shape(value: Any) -> dict[str, Any]:
    """A JSON Schema of a value's shape (types only, nested objects and arrays followed)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": _shape(value[0])} if value else {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object", "properties": {key: _shape(item) for key, item in value.items()}}
    return {}


def reconstructed_tools(span: SpanRecord) -> list[dict[str, Any]]:
    """Tool definitions rebuilt from the calls a span's input and output hold: each tool's name
    and the shape of the arguments it was called with (no descriptions, no required keys).
    Only for a replay that asks for them (`reconstructTools`)."""
    tools: dict[str, dict[str, Any]] = {}
    for message in [*(span.input_messages or []), *(span.output_messages or [])]:
        for call in message.get("tool_calls") or []:
            name = call.get("name")
            if not isinstance(name, str) or not name:
                continue
            arguments = call.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except (ValueError, RecursionError):
                    arguments = None
            schema = tools.setdefault(name, {"type": "object", "properties": {}})
            if isinstance(arguments, dict):
                schema["properties"].update(_shape(arguments)["properties"])
    return [{"type": "function", "function": {"name": name, "parameters": schema}}
            for name, schema in tools.items()]  # fmt: skip


def verdict(findings: list[Finding]) -> dict[str, Any]:
    """As stored on a replayed span and shown: `{"verdict": "exact" | "inexact", "unknown": […]}`."""
    return {
        "verdict": "inexact" if findings else "exact",
        "unknown": [finding.as_dict() for finding in findings],
    }
