"""`init`: OpenTelemetry tracing (and logs, for instrumentations that record messages as log
events) exported over OTLP/HTTP to a tracereplay server, plus the span processor that writes
the active `Prompt.use` link onto LLM spans."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import get_logger_provider, set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from tracereplay_sdk.prompt import ACTIVE_USE, PromptClient, PromptUse

DEFAULT_ENDPOINT = "http://127.0.0.1:7420"
# Operations of an LLM call in OTel GenAI (`gen_ai.operation.name`) and OpenLLMetry
# (`llm.request.type`); anything else named there (embeddings, tools, agents) is not one.
LLM_OPERATIONS = frozenset({"chat", "text_completion", "completion", "generate_content"})


def is_llm_call(attributes: Mapping[str, Any]) -> bool:
    """Whether a span, as its instrumentation library starts it, is a call to a model: the
    library's own kind wins (OpenInference, OTel GenAI, OpenLLMetry); a span that names only a
    GenAI system is taken as a call."""
    kind = attributes.get("openinference.span.kind")
    if kind is not None:
        return bool(kind == "LLM")
    for key in ("gen_ai.operation.name", "llm.request.type"):
        operation = attributes.get(key)
        if operation is not None:
            return operation in LLM_OPERATIONS
    return "gen_ai.system" in attributes or "gen_ai.provider.name" in attributes


class PromptLinkProcessor(SpanProcessor):
    """Writes the innermost `Prompt.use` link (name, version, variables as JSON) on every LLM
    span started inside it, whichever library starts the span."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        use = otel_context.get_value(ACTIVE_USE, parent_context)
        if not isinstance(use, PromptUse):
            # Libraries that build the parent context themselves (from a span of their own
            # run tree) drop other context values; the block around the call still holds.
            use = otel_context.get_value(ACTIVE_USE)
        if isinstance(use, PromptUse) and is_llm_call(span.attributes or {}):
            span.set_attributes(use.attributes())

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_current: Client | None = None  # the client of the last `init`


class Client:
    """What `init` set up: the tracer provider spans go through, and the prompt client."""

    def __init__(
        self,
        tracer_provider: TracerProvider,
        prompts: PromptClient,
        logger_provider: LoggerProvider | None = None,
        *,
        stops: tuple[TracerProvider | LoggerProvider | SpanProcessor | BatchLogRecordProcessor, ...] = (),
    ) -> None:
        self.tracer_provider = tracer_provider
        self.prompts = prompts
        self.logger_provider = logger_provider
        self._stops = stops  # what `init` created: providers, or its processors on joined ones

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every finished span (and log record) now; True when all were sent."""
        sent = self.tracer_provider.force_flush(timeout_millis)
        if self.logger_provider is not None:
            sent = self.logger_provider.force_flush(timeout_millis) and sent
        return sent

    def shutdown(self) -> None:
        """Flush, then stop exporting: the providers `init` created are shut down; on a joined
        provider, only the exporting processor `init` added to it."""
        global _current
        self.flush()
        for stoppable in self._stops:
            stoppable.shutdown()
        self.prompts.close()
        if _current is self:
            _current = None


def init(
    endpoint: str | None = None,
    api_key: str | None = None,
    *,
    service_name: str | None = None,
    environment: str | None = None,
    tracer_provider: TracerProvider | None = None,
    span_exporter: SpanExporter | None = None,
    export_logs: bool = True,
    capture_message_content: bool = True,
    cache_ttl: float = 60.0,
) -> Client:
    """Send this app's traces to a tracereplay server and make its prompts available.

    `endpoint` and `api_key` default to `TRACEREPLAY_ENDPOINT` (else http://127.0.0.1:7420) and
    `TRACEREPLAY_API_KEY`. With `tracer_provider`, or when the app already set an SDK tracer
    provider globally, the SDK joins it (adds its exporter and prompt linking); otherwise it
    creates one and sets it globally. `span_exporter` replaces the OTLP exporter (tests,
    embedding). `capture_message_content` asks instrumentations that keep message content off by
    default (OTel GenAI) to record it, unless the environment says otherwise: a replay needs it.
    """
    global _current
    if _current is not None:
        raise RuntimeError(
            "tracereplay_sdk.init() was already called in this process: use current_client(), "
            "or call its shutdown() first"
        )
    endpoint = (endpoint or os.environ.get("TRACEREPLAY_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    api_key = api_key or os.environ.get("TRACEREPLAY_API_KEY")
    if not api_key:
        raise ValueError(
            "tracereplay: no API key; pass init(api_key=...) or set TRACEREPLAY_API_KEY "
            "(the server prints one at its first start; `tracereplay projects create` makes more)"
        )
    if capture_message_content:
        os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    headers = {"Authorization": f"Bearer {api_key}"}
    attributes = {"service.name": service_name} if service_name else {}
    if environment:
        attributes["deployment.environment.name"] = environment

    stops: list[TracerProvider | LoggerProvider | SpanProcessor | BatchLogRecordProcessor] = []
    if tracer_provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            tracer_provider = current
        else:
            tracer_provider = TracerProvider(resource=Resource.create(attributes))
            trace.set_tracer_provider(tracer_provider)
            stops.append(tracer_provider)
    tracer_provider.add_span_processor(PromptLinkProcessor())
    exporter = span_exporter or OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers)
    exporting = BatchSpanProcessor(exporter)
    tracer_provider.add_span_processor(exporting)
    if not stops:
        stops.append(exporting)

    logger_provider: LoggerProvider | None = None
    if export_logs and span_exporter is None:
        logs = BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers))
        current_logs = get_logger_provider()
        if isinstance(current_logs, LoggerProvider):
            logger_provider = current_logs
            stops.append(logs)
        else:
            logger_provider = LoggerProvider(resource=tracer_provider.resource)
            set_logger_provider(logger_provider)
            stops.append(logger_provider)
        logger_provider.add_log_record_processor(logs)

    prompts = PromptClient(endpoint, api_key, cache_ttl=cache_ttl)
    _current = Client(tracer_provider, prompts, logger_provider, stops=tuple(stops))
    return _current


def current_client() -> Client | None:
    """The client of the last `init` in this process."""
    return _current
