"""Which span of the target trace corresponds to which span of the base trace.

A replay's spans pair exactly: the replayed trace's span ids are derived from the replay id and
the original span ids (`replay.executor.derived_id`). Two unrelated traces are aligned as
sequences: each trace's spans in tree order (depth first, siblings by start time), keyed by
depth, kind and name, matched by `difflib`'s longest-matching-blocks algorithm (autojunk off),
so an inserted or removed step shifts nothing after it. Spans left over are added (target
only) or removed (base only). Pure functions over span records.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tracereplay.ingest.records import SpanRecord


@dataclass(frozen=True)
class Alignment:
    pairs: list[tuple[SpanRecord, SpanRecord]]  # (base, target), in base tree order
    removed: list[SpanRecord]  # base only
    added: list[SpanRecord]  # target only


def tree_order(spans: Sequence[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """(depth, span) depth first, children by start time; orphans (parent never arrived) are roots."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: (span.start_time, span.span_id))
    ordered: list[tuple[int, SpanRecord]] = []
    stack = [(0, span) for span in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        ordered.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(children.get(span.span_id, [])))
    return ordered


def align_by_ids(
    base: Sequence[SpanRecord], target: Sequence[SpanRecord], target_id_of: Callable[[str], str]
) -> Alignment:
    """Pairs through an id mapping (a replay's: original span id -> replayed span id)."""
    by_id = {span.span_id: span for span in target}
    pairs, removed = [], []
    for _, span in tree_order(base):
        match = by_id.pop(target_id_of(span.span_id), None)
        if match is None:
            removed.append(span)
        else:
            pairs.append((span, match))
    added = [span for _, span in tree_order(list(by_id.values()))]
    return Alignment(pairs, removed, added)


def align_by_shape(base: Sequence[SpanRecord], target: Sequence[SpanRecord]) -> Alignment:
    """Pairs of two unrelated traces by tree position and names (see the module docstring)."""
    a, b = tree_order(base), tree_order(target)
    keys_a = [(depth, span.kind, span.name) for depth, span in a]
    keys_b = [(depth, span.kind, span.name) for depth, span in b]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    pairs, matched_a, matched_b = [], set(), set()
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            pairs.append((a[block.a + offset][1], b[block.b + offset][1]))
            matched_a.add(block.a + offset)
            matched_b.add(block.b + offset)
    removed = [span for index, (_, span) in enumerate(a) if index not in matched_a]
    added = [span for index, (_, span) in enumerate(b) if index not in matched_b]
    return Alignment(pairs, removed, added)
