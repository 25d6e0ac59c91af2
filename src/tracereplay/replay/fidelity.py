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
from itertools import pairwise
from typing import Any

from tracereplay.ingest.conventions import REQUEST_BODY, genai, request_body
from tracereplay.ingest.conventions.libraries import library_of
from tracereplay.ingest.records import SpanRecord

# Request arguments each instrumentation drops, by library and the provider called (measured:
# an app sent every argument through the library, and the recorded span was read back). A span
# that records one anyway (a newer version) is not held to it. `cache_control`: the cache marks
# on the system prompt and message blocks.
NOT_RECORDED: dict[tuple[str, str], tuple[str, ...]] = {
    # OpenInference: `llm.invocation_parameters` holds every argument of an OpenAI call, tools
    # beside it; of an Anthropic call, `input.value` holds the call whole.
    ("openinference", "openai"): (),
    ("openinference", "anthropic"): (),
    # opentelemetry-instrumentation-openai / -anthropic (OpenLLMetry / Traceloop)
    ("openllmetry", "openai"): ("seed", "stop", "tool_choice", "parallel_tool_calls", "logit_bias"),
    ("openllmetry", "anthropic"): ("temperature", "top_p", "top_k", "stop_sequences", "tool_choice",
                                   "metadata", "thinking", "cache_control"),
    # opentelemetry-instrumentation-openai-v2 (the official OTel GenAI one)
    ("genai", "openai"): ("tools", "tool_choice", "parallel_tool_calls", "logit_bias", "user"),
    # pydantic-ai's own instrumentation (its model_request_parameters give tools, tool choice and
    # a native output's response format)
    ("pydantic-ai", "openai"): ("stop", "parallel_tool_calls", "logit_bias"),
    # The anthropic SDK's own spans (2.x), with content recording on
    ("anthropic-sdk", "anthropic"): ("tools", "tool_choice", "temperature", "top_p", "top_k", "metadata",
                                     "cache_control"),
}  # fmt: skip
LIBRARIES = {
    "openinference": "OpenInference",
    "openllmetry": "OpenLLMetry",
    "genai": "this OpenTelemetry GenAI instrumentation",
    "anthropic-sdk": "the anthropic SDK's own telemetry",
    "pydantic-ai": "pydantic-ai",
}
# Libraries that record an OpenAI image part without its `detail`.
DETAIL_DROPPED = frozenset({"openllmetry", "pydantic-ai"})


@dataclass(frozen=True)
class Finding:
    """One part of the request that a replay cannot send as the app did."""

    field: str  # the request argument: tools, tool_choice, messages, response_format…
    why: str  # read after the field: "seed: not recorded by OpenLLMetry"

    def __str__(self) -> str:
        return f"{self.field}: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "why": self.why}


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


def _cache_marks(messages: Iterable[dict[str, Any]] | None) -> bool:
    return any(
        isinstance(part, dict) and "cache_control" in part
        for message in messages or []
        for part in message.get("parts") or []
    )


def _emptied_blocks(messages: Iterable[dict[str, Any]] | None) -> list[str]:
    """Parts a library recorded as a bare type, their content left out (the anthropic SDK's
    `{"type": "anthropic_image"}`): nothing there can be sent again."""
    return [
        str(part["type"])
        for message in messages or []
        for part in message.get("parts") or []
        if isinstance(part, dict) and set(part) == {"type"} and part["type"] not in ("text",)
    ]


def assess(span: SpanRecord, *, reconstructing: bool = False, chosen: Iterable[str] = ()) -> list[Finding]:
    """What is unknown of the request this LLM span recorded; empty: the replay is exact.
    `reconstructing`: tool definitions missing beside tool calls are rebuilt from the calls,
    and said so. `chosen`: arguments the replay sets itself (its `modelParameters`), unknown no
    longer. A request the SDK captured whole is exact, whatever recorded the span."""
    given = set(chosen)
    return [finding for finding in _findings(span, reconstructing) if finding.field not in given]


def _findings(span: SpanRecord, reconstructing: bool) -> list[Finding]:
    if span.attributes and request_body.extract(span.attributes):
        return _captured(span)  # the request, as sent: read into this span
    library = library_of(span.attributes or {})
    provider = (span.provider or "openai").lower()
    return [
        *_not_replayed(span.invocation_parameters or {}),
        *_gaps(span, library, provider),
        *_content(span, library, provider, reconstructing),
        *_response_format(span),
    ]


def _gaps(span: SpanRecord, library: str | None, provider: str) -> list[Finding]:
    """What the library is measured not to record, for the provider called, unless this span
    records it anyway; tools stand apart when calls show they were there (`_content`)."""
    parameters = span.invocation_parameters or {}
    calls = _tool_calls(span.input_messages) + _tool_calls(span.output_messages)
    return [
        Finding(field, f"not recorded by {LIBRARIES[library or '']}")
        for field in NOT_RECORDED.get((library or "", provider), ())
        if not (
            field in parameters
            or (field == "tools" and (span.tools or calls))
            or (field == "cache_control" and _cache_marks(span.input_messages))
        )
    ]


def _content(span: SpanRecord, library: str | None, provider: str, reconstructing: bool) -> list[Finding]:
    """Tool calls without definitions, images without their detail, blocks without content."""
    findings = []
    calls = _tool_calls(span.input_messages) + _tool_calls(span.output_messages)
    if calls and not span.tools:
        names = ", ".join(sorted(set(calls)))
        told = f"no tool definitions recorded; {len(calls)} tool call(s) in this call name {names}"
        if reconstructing:
            told = f"reconstructed from {len(calls)} tool call(s) ({names}): names and argument shapes only"
        findings.append(Finding("tools", told))
    # An image without `detail` is unknown only where the library drops it; elsewhere the app
    # sent none (the API's default, auto).
    if library in DETAIL_DROPPED and provider == "openai":
        images = _images_without_detail(span.input_messages)
        if images:
            findings.append(Finding("messages", f"{images} image(s) recorded without their detail"))
    emptied = _emptied_blocks(span.input_messages)
    if emptied:
        findings.append(Finding("messages", f"{len(emptied)} block(s) recorded without their content "
                                            f"({', '.join(sorted(set(emptied)))})"))  # fmt: skip
    return findings


def _response_format(span: SpanRecord) -> list[Finding]:
    """A response format recorded without its schema, or rebuilt, or guessed."""
    parameters = span.invocation_parameters or {}
    attributes = span.attributes or {}
    findings = []
    response_format = parameters.get("response_format")
    schemaless = (
        isinstance(response_format, dict)
        and response_format.get("type") == "json_schema"
        and not response_format.get("json_schema")
    )
    arguments = genai.parse_json(attributes.get("llm.invocation_parameters"))
    if isinstance(arguments, dict) and isinstance(arguments.get("response_format"), str):  # LangChain's
        findings.append(
            Finding("response_format", "recorded as a class name, without the schema that was sent")
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


def _captured(span: SpanRecord) -> list[Finding]:
    """What a replay of a request the SDK captured whole does not send as it came."""
    body = genai.parse_json(span.attributes.get(REQUEST_BODY))
    findings = _not_replayed(span.invocation_parameters or {})
    turns = body.get("messages") if isinstance(body, dict) else None
    anthropic = str(span.attributes.get(request_body.REQUEST_PATH, "")).endswith("/messages")
    if anthropic and isinstance(turns, list):
        roles = [turn.get("role") for turn in turns if isinstance(turn, dict)]
        if any(a == b for a, b in pairwise(roles)):
            findings.append(Finding("messages", "consecutive turns of one role are sent as one turn, "
                                                "as the Messages API reads them"))  # fmt: skip
    return findings


def _not_replayed(parameters: dict[str, Any]) -> list[Finding]:
    return [Finding(name, "not replayed: it hands the API credentials or state the recorded app owned")
            for name in ("mcp_servers", "container") if name in parameters]  # fmt: skip


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
