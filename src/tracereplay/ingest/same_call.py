"""One LLM call recorded by two spans: recognised, so that it counts once.

An instrumentation library's span and the provider SDK's own telemetry can both describe one
call: the Anthropic SDK (2.x) opens `anthropic.messages.create` inside OpenInference's
`messages.create`, and beside OpenLLMetry's `anthropic.chat`; a framework's model span holds the
client library's span. Two LLM spans of a trace are one call when:

- two different instrumentations recorded them (their scopes differ: one library never records
  one call twice, while an app may well make two calls at once with one prompt);
- one is the other's parent, or they are siblings, and one lies within the other in time;
- neither failed (a failed attempt and its retry are two calls);
- their models agree: the same name, or a dated release (as a response names it) and its alias
  (`claude-sonnet-4-6-20260101` and `claude-sonnet-4-6`; `gpt-4o` is not `gpt-4o-mini`);
- their token counts do not disagree; siblings must both report them, and the same.

Spans linked this way, however many (a framework's, a library's and the SDK's), are one call.
One of them counts it: the one holding the most of the request (the body the SDK captured, else
input messages), then one with token counts, then the outermost. The others are stored with
`same_call_as` naming it. Roll-ups, the trace list and replays count and run the call once,
through that span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_RELEASE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")  # a dated release or -latest alias


@dataclass(frozen=True)
class CallSpan:
    span_id: str
    parent_span_id: str | None
    model: str | None
    start: Any  # datetime, or its stored text: only compared with others of the same trace
    end: Any
    prompt_tokens: int | None
    completion_tokens: int | None
    recorded_by: str | None  # "<detail>:<source>" (ingest.conventions.libraries.recorded_by)
    failed: bool = False

    @property
    def detail(self) -> int:
        return int(self.recorded_by[0]) if self.recorded_by and self.recorded_by[0].isdigit() else 0

    @property
    def source(self) -> str | None:
        return (self.recorded_by.partition(":")[2] or None) if self.recorded_by else None

    @property
    def has_tokens(self) -> bool:
        return self.prompt_tokens is not None and self.completion_tokens is not None


def _same_model(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    a, b = a.lower(), b.lower()
    return a == b or _RELEASE.sub("", a) == _RELEASE.sub("", b)


def _agree(a: CallSpan, b: CallSpan, *, siblings: bool) -> bool:
    if not (a.has_tokens and b.has_tokens):
        return not siblings
    return (a.prompt_tokens, a.completion_tokens) == (b.prompt_tokens, b.completion_tokens)


def _one_call(inner: CallSpan, outer: CallSpan, siblings: bool) -> bool:
    return (
        inner.source is not None
        and outer.source is not None
        and inner.source != outer.source
        and not (inner.failed or outer.failed)
        and outer.start <= inner.start
        and inner.end <= outer.end
        and _same_model(inner.model, outer.model)
        and _agree(inner, outer, siblings=siblings)
    )


def _candidates(spans: Sequence[CallSpan]) -> Iterable[tuple[CallSpan, CallSpan, bool]]:
    """(inner, outer, siblings) for each span within its parent or within a sibling."""
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[CallSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
        parent = by_id.get(span.parent_span_id or "")
        if parent is not None and parent is not span:
            yield span, parent, False
    for group in children.values():
        group.sort(key=lambda s: s.end, reverse=True)
        group.sort(key=lambda s: s.start)  # stable: of two starting together, the longer first
        for index, outer in enumerate(group):
            for inner in group[index + 1 :]:
                if inner.start > outer.end:
                    break  # sorted by start: no later sibling begins within `outer`
                yield inner, outer, True


def same_calls(spans: Sequence[CallSpan]) -> dict[str, str]:
    """The LLM spans of one trace that restate another's call: span id -> the span that counts it."""
    group_of: dict[str, str] = {}  # union-find over span ids

    def root(span_id: str) -> str:
        while group_of.get(span_id, span_id) != span_id:
            span_id = group_of[span_id]
        return span_id

    for inner, outer, siblings in _candidates(spans):
        if _one_call(inner, outer, siblings):
            a, b = root(inner.span_id), root(outer.span_id)
            if a != b:
                group_of[a] = b
    if not group_of:
        return {}
    groups: dict[str, list[CallSpan]] = {}
    for span in spans:
        groups.setdefault(root(span.span_id), []).append(span)
    restates: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        # Most of the request, then token counts, then the outermost (earliest, then longest).
        ordered = sorted(members, key=lambda s: s.end, reverse=True)
        ordered.sort(key=lambda s: s.start)
        ordered.sort(key=lambda s: (-s.detail, not s.has_tokens))  # stable sorts: keys in turn
        counted = ordered[0]
        restates.update((span.span_id, counted.span_id) for span in members if span is not counted)
    return restates


def marks(spans: Sequence[CallSpan], current: Sequence[str | None]) -> list[str | None]:
    """Each span's `same_call_as` once its trace's LLM spans are read together: a span found to
    restate another names it, one found to count a call names none, and any other keeps the mark
    it had (a replay writes its own)."""
    restates = same_calls(spans) if len(spans) > 1 else {}
    counted = set(restates.values())
    return [
        restates.get(span.span_id) or (None if span.span_id in counted else mark)
        for span, mark in zip(spans, current, strict=True)
    ]
