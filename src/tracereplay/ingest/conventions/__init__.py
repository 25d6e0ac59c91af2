"""Semantic-convention mappers: raw OTel attributes -> normalised span fields.

Each convention is one module exposing `detect(attributes)` and `extract(attributes, events)`.
`normalise(attributes, events)` runs every convention that detects the span, in registry
order, and keeps the first non-empty value for each field, so a span carrying two
conventions (OpenLLMetry also sets some `gen_ai.*` keys) gets the most specific reading.

Normalised shapes (JSON-ready, keys with no value are left out):

- message: ``{"role": "system"|"user"|"assistant"|"tool", "content": str,
  "parts": [{"type": "text", "text": str} | {"type": "image", "url": str} | {...}],
  "tool_calls": [{"id": str, "name": str, "arguments": str}], "tool_call_id": str,
  "name": str, "finish_reason": str}``. `content` holds the text when the message is plain text;
  `parts` is present only for multi-part content. Tool-call `arguments` is the JSON *string*
  the model produced.
- tools: OpenAI function-tool shape ``[{"type": "function", "function": {"name", "description",
  "parameters"}}]``.
- invocation_parameters: ``{"temperature": 0.2, "max_tokens": 200, ...}`` as sent to the model.
- prompt_template: ``{"name", "version", "id", "template", "variables": {...}}``.

An event (span event or joined OTLP log record) is ``{"name": str, "time": str | None,
"attributes": dict, "body": Any}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from tracereplay.ingest.conventions.prompt_links import prompt_link

Attributes = Mapping[str, Any]
REQUEST_BODY = "tracereplay.request.body"  # an OpenAI request the SDK captured whole
Event = Mapping[str, Any]


class NormalisedFields(TypedDict, total=False):
    kind: str
    provider: str
    model: str
    invocation_parameters: dict[str, Any]
    input_messages: list[dict[str, Any]]
    output_messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_template: dict[str, Any]
    input: str
    output: str
    # trace-level hints, rolled up onto the trace
    session_id: str
    user_id: str
    tags: list[str]
    metadata: dict[str, Any]


# OpenInference span kinds; every span is stored with one of these.
SPAN_KINDS = frozenset(
    {"LLM", "CHAIN", "TOOL", "AGENT", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL",
     "EVALUATOR", "PROMPT", "UNKNOWN"}
)  # fmt: skip


class Convention:
    """A convention module seen through one interface."""

    def __init__(
        self,
        name: str,
        detect: Callable[[Attributes], bool],
        extract: Callable[[Attributes, Sequence[Event]], NormalisedFields],
        *,
        exclusive: bool = False,
    ) -> None:
        self.name = name
        self.detect = detect
        self.extract = extract
        # An exclusive convention describes the whole span; the others are not consulted.
        self.exclusive = exclusive


def _registry() -> list[Convention]:
    from tracereplay.ingest.conventions import genai, openinference, openllmetry

    # Most specific first: OpenLLMetry spans also carry gen_ai.* keys. OpenInference spans
    # are complete on their own, so the others are not asked (ingestion hot path).
    return [
        Convention("openinference", openinference.detect, openinference.extract, exclusive=True),
        Convention("openllmetry", openllmetry.detect, openllmetry.extract),
        Convention("genai", genai.detect, genai.extract),
    ]


CONVENTIONS: list[Convention] = _registry()


def normalise(attributes: Attributes, events: Sequence[Event] = ()) -> NormalisedFields:
    """Every convention's reading of one span, merged; `kind` is always set."""
    merged: dict[str, Any] = {}
    for convention in CONVENTIONS:
        if not convention.detect(attributes):
            continue
        for key, value in convention.extract(attributes, events).items():
            if not value and not isinstance(value, int | float):
                continue  # empty string, list or dict: let a later convention fill it
            merged.setdefault(key, value)
        if convention.exclusive:
            break
    if "model_request_parameters" in attributes and merged.get("kind") == "LLM":
        from tracereplay.ingest.conventions import pydantic_ai

        pydantic_ai.refine(attributes, merged)  # type: ignore[arg-type]
    if REQUEST_BODY in attributes and merged.get("kind") == "LLM":  # the request the SDK captured
        from tracereplay.ingest.conventions import request_body

        merged.update(request_body.extract(attributes))  # its arguments alone: nothing guessed
    kind = merged.get("kind")
    if kind not in SPAN_KINDS:
        merged["kind"] = "UNKNOWN"
    link = prompt_link(attributes)
    if link:
        merged["prompt_template"] = {**merged.get("prompt_template", {}), **link}
    return merged  # type: ignore[return-value]
