"""Which instrumentation recorded an LLM span, and how much of its request the span holds.

The instrumentation scope says it best (`otel.scope.name`, which ingestion keeps on LLM spans);
spans stored without it are told apart by keys only some libraries write. Replay fidelity holds
each library to the request arguments it is known not to record, and one call recorded by two
instrumentations is recognised by their being two (`ingest.same_call`).
"""

from __future__ import annotations

from tracereplay.ingest.conventions import REQUEST_BODY, Attributes, NormalisedFields

SCOPE_NAME, SCOPE_VERSION = "otel.scope.name", "otel.scope.version"
# Instrumentation scopes, by the library whose gaps they share (first match wins).
_SCOPES = (
    ("openinference.instrumentation.", "openinference"),
    ("opentelemetry.instrumentation.openai_v2", "genai"),
    ("opentelemetry.instrumentation.openai.v", "openllmetry"),  # .v0, .v1
    ("opentelemetry.instrumentation.anthropic", "openllmetry"),
    ("com.anthropic.sdk", "anthropic-sdk"),
    ("pydantic-ai", "pydantic-ai"),
    ("pydantic_ai", "pydantic-ai"),
)
# Keys only OpenLLMetry writes, for spans stored without their scope.
OPENLLMETRY_KEYS = ("gen_ai.is_streaming", "gen_ai.openai.api_base")


def library_of(attributes: Attributes) -> str | None:
    """The library that recorded a span: openinference, openllmetry, genai (the official OTel
    GenAI instrumentations), anthropic-sdk, pydantic-ai; None for another producer (the JSON
    API, a replay)."""
    from tracereplay.ingest.conventions import genai, openinference, openllmetry, pydantic_ai

    scope = attributes.get(SCOPE_NAME)
    if isinstance(scope, str):
        for prefix, library in _SCOPES:
            if scope.startswith(prefix):
                return library
    if openinference.detect(attributes):
        return "openinference"
    # Recent OpenLLMetry writes the current GenAI semconv, but keeps keys of its own.
    if openllmetry.detect(attributes) or any(key in attributes for key in OPENLLMETRY_KEYS):
        return "openllmetry"
    if pydantic_ai.detect(attributes):
        return "pydantic-ai"
    if genai.detect(attributes):
        return "anthropic-sdk" if any(key.startswith("anthropic.") for key in attributes) else "genai"
    return None


def recorded_by(attributes: Attributes, fields: NormalisedFields) -> str | None:
    """`"<detail>:<source>"` for an LLM span: how much of the request it holds (2: the body the
    SDK captured, 1: input messages, 0: neither) and what recorded it (its instrumentation
    scope, else its library). None when nothing says what recorded it."""
    scope = attributes.get(SCOPE_NAME)
    source = scope if isinstance(scope, str) and scope else library_of(attributes)
    if source is None:
        return None
    detail = 2 if REQUEST_BODY in attributes else int(bool(fields.get("input_messages")))
    return f"{detail}:{source}"
