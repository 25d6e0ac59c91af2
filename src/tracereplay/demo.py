"""The demo: a small weather agent, recorded through the SDK, run against the local model.

Each run records one trace per question: an AGENT root, an LLM call that plans, a TOOL call
(get_weather) and an LLM call that answers with the tool's result, all with OpenInference
attributes. Its prompt is the chat template `weather-agent` (version 1 labelled `production`,
version 2 a rewrite): both LLM calls are rendered from version 1 inside `Prompt.use`, so the
SDK links them to it with their variables. The spans are exported as OTLP and stored through
the normal ingestion path. A new user can replay these traces at once, with another model,
parameters or version 2 of the prompt, with no API key and no network.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span

from tracereplay.context import AppContext
from tracereplay.errors import NotFound
from tracereplay.ingest.otlp import spans_from_request
from tracereplay.prompts import service as prompts
from tracereplay.providers.base import CompletionRequest, CompletionResponse, Provider
from tracereplay_sdk import Prompt, PromptLinkProcessor

QUESTIONS = (
    ("Paris", "What's the weather in Paris today, and do I need an umbrella?"),
    ("Tokyo", "Is it a good day for a walk in Tokyo?"),
    ("Oslo", "Should I wear a coat in Oslo this afternoon?"),
)
WEATHER = {"Paris": "14°C, light rain", "Tokyo": "22°C, clear sky", "Oslo": "3°C, windy"}
PROMPT_NAME = "weather-agent"
PROMPT_VERSIONS = (
    ("You are a friendly weather assistant. Answer in one or two sentences.", "first version"),
    (
        "You are a weather assistant. Answer in one sentence, and say what to wear.",
        "shorter, with clothing advice",
    ),
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PARAMETERS = {"temperature": 0.7, "max_tokens": 64}


def _record_llm(span: Span, model: str, messages: list[dict[str, Any]], response: CompletionResponse) -> None:
    """OpenInference attributes of one LLM call, as an instrumentation library sets them (the
    span kind is given when the span starts, as the libraries do)."""
    span.set_attribute("llm.provider", "local")
    span.set_attribute("llm.model_name", model)
    span.set_attribute("llm.invocation_parameters", json.dumps(PARAMETERS))
    span.set_attribute("llm.tools.0.tool.json_schema", json.dumps(WEATHER_TOOL))
    for index, message in enumerate(messages):
        prefix = f"llm.input_messages.{index}.message"
        span.set_attribute(f"{prefix}.role", message["role"])
        if message.get("content"):
            span.set_attribute(f"{prefix}.content", message["content"])
        if message.get("tool_call_id"):
            span.set_attribute(f"{prefix}.tool_call_id", message["tool_call_id"])
        for position, call in enumerate(message.get("tool_calls") or []):
            call_prefix = f"{prefix}.tool_calls.{position}.tool_call"
            span.set_attribute(f"{call_prefix}.id", call["id"])
            span.set_attribute(f"{call_prefix}.function.name", call["name"])
            span.set_attribute(f"{call_prefix}.function.arguments", call["arguments"])
    output = response.output_messages[0]
    span.set_attribute("llm.output_messages.0.message.role", "assistant")
    span.set_attribute("llm.output_messages.0.message.content", output.get("content") or "")
    for name, value in (("prompt", response.prompt_tokens), ("completion", response.completion_tokens),
                        ("total", response.total_tokens)):  # fmt: skip
        if value is not None:
            span.set_attribute(f"llm.token_count.{name}", value)


def _agent(tracer: Any, provider: Provider, model: str, prompt: Prompt, city: str, question: str) -> None:
    llm_kind = {"openinference.span.kind": "LLM"}
    with tracer.start_as_current_span("weather-agent") as root, prompt.use(question=question) as rendered:
        root.set_attribute("openinference.span.kind", "AGENT")
        root.set_attribute("input.value", question)
        root.set_attribute("session.id", "demo")
        assert isinstance(rendered, list)  # a chat prompt
        messages: list[dict[str, Any]] = list(rendered)
        with tracer.start_as_current_span("plan", attributes=llm_kind) as span:
            plan = provider.complete(CompletionRequest(model, messages, [WEATHER_TOOL], dict(PARAMETERS)))
            _record_llm(span, model, messages, plan)
        # The demo agent always looks the weather up (a 270M base model cannot call tools).
        call = {"id": f"call_{city.lower()}", "name": "get_weather", "arguments": json.dumps({"city": city})}
        with tracer.start_as_current_span("get_weather") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "get_weather")
            tool.set_attribute("input.value", call["arguments"])
            tool.set_attribute("output.value", WEATHER[city])
        messages += [
            {
                "role": "assistant",
                "content": plan.output_messages[0].get("content") or "",
                "tool_calls": [call],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": WEATHER[city]},
        ]
        with tracer.start_as_current_span("answer", attributes=llm_kind) as span:
            answer = provider.complete(CompletionRequest(model, messages, [WEATHER_TOOL], dict(PARAMETERS)))
            _record_llm(span, model, messages, answer)
        root.set_attribute("output.value", answer.output_messages[0].get("content") or "")


def demo_prompt(ctx: AppContext, project_rowid: int) -> Prompt:
    """Version 1 of the demo's chat template, creating the versions it lacks (both, the first
    time; version 1 is labelled production when it is created)."""
    try:
        existing = len(prompts.list_versions(ctx.sessions, project_rowid, PROMPT_NAME))
    except NotFound:
        existing = 0
    for number, (system, message) in enumerate(PROMPT_VERSIONS[existing:], start=existing + 1):
        body = [{"role": "system", "content": system}, {"role": "user", "content": "{{question}}"}]
        labels = ["production"] if number == 1 else None
        prompts.create_version(
            ctx.sessions, project_rowid, PROMPT_NAME, "chat", body, commit_message=message, labels=labels
        )
    version = prompts.get_version(ctx.sessions, project_rowid, PROMPT_NAME, version=1)
    return Prompt.from_api(vars(version))


def record_demo_traces(ctx: AppContext, project_rowid: int) -> list[str]:
    """Run the demo agent once per question against the local model; returns the trace ids."""
    provider, model = ctx.providers.resolve("local:gemma-3-270m")
    prompt = demo_prompt(ctx, project_rowid)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(
        resource=Resource.create({"service.name": "tracereplay-demo", "deployment.environment.name": "demo"})
    )
    # What `tracereplay_sdk.init` sets up, with the OTLP bytes handed to ingestion in-process
    # rather than sent over HTTP: the server may not be running yet.
    tracer_provider.add_span_processor(PromptLinkProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("tracereplay.demo")
    for city, question in QUESTIONS:
        _agent(tracer, provider, model, prompt, city, question)
    tracer_provider.shutdown()
    spans = exporter.get_finished_spans()
    decoded = spans_from_request(encode_spans(spans))
    ctx.ingest.store_spans(project_rowid, decoded.spans)
    return sorted({span.trace_id for span in decoded.spans})
