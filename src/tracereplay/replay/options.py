"""What a trace can be replayed with, before anyone asks: the models available now with their
prices and the replay's estimated cost on each (the original's token counts at that model's
prices), the versions of the prompt templates its LLM spans were rendered from, and the
parameters they were called with. The replay form is built from this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tracereplay.ingest.records import SpanRecord
from tracereplay.pricing.book import PriceBook
from tracereplay.prompts.service import PromptVersionView, list_versions
from tracereplay.providers.catalog import CatalogEntry, model_catalog
from tracereplay.providers.registry import Providers
from tracereplay.replay.fidelity import Finding, assess
from tracereplay.replay.service import chosen_spans
from tracereplay.traces.queries import TraceView, get_trace


@dataclass(frozen=True)
class ModelChoice:
    entry: CatalogEntry
    estimate: float | None  # US $ for the replay on this model; None when a price or count is unknown


@dataclass(frozen=True)
class ReplayOptions:
    trace: TraceView
    spans: list[SpanRecord]  # the LLM spans the replay would re-run
    models: list[ModelChoice]
    recorded_estimate: float | None  # every span on its own recorded model
    prompt_versions: dict[str, list[PromptVersionView]]  # by template name, the ones the spans use
    parameters: dict[str, Any]  # the first re-run span's invocation parameters
    inexact: list[tuple[SpanRecord, list[Finding]]]  # the spans whose request is not fully known

    @property
    def tool_definitions_missing(self) -> bool:
        """Some span holds tool calls but no definitions: `reconstructTools` can rebuild them."""
        return any(f.field == "tools" and f.why.startswith("no tool definitions recorded")
                   for _, findings in self.inexact for f in findings)  # fmt: skip


def estimate_cost(book: PriceBook, spans: Sequence[SpanRecord], entry: CatalogEntry | None) -> float | None:
    """The spans' recorded token counts at `entry`'s prices (each span's own model when None)."""
    total = 0.0
    for span in spans:
        provider, model = (entry.provider, entry.model) if entry else (span.provider, span.model)
        cost = book.cost(provider, model, span.prompt_tokens, span.completion_tokens)
        if cost is None:
            return None
        total += cost
    return total


def replay_options(
    sessions: sessionmaker[Session],
    providers: Providers,
    book: PriceBook,
    project_rowid: int,
    trace_id: str,
    span_ids: Sequence[str] | None = None,
    retention_days: int = 0,
) -> ReplayOptions:
    detail = get_trace(sessions, project_rowid, trace_id, retention_days)
    spans = chosen_spans(detail.spans, span_ids)
    chosen = {span.span_id for span in spans}
    names = sorted({link.name for span_id, link in detail.prompt_links.items()
                    if link.linked and link.name and span_id in chosen})  # fmt: skip
    return ReplayOptions(
        trace=detail.trace,
        spans=spans,
        models=[
            ModelChoice(entry, estimate_cost(book, spans, entry)) for entry in model_catalog(providers, book)
        ],
        recorded_estimate=estimate_cost(book, spans, None),
        prompt_versions={name: list_versions(sessions, project_rowid, name) for name in names},
        parameters=dict(spans[0].invocation_parameters or {}) if spans else {},
        inexact=[(span, findings) for span in spans if (findings := assess(span))],
    )
