"""What changed between two outputs: a word-level diff of texts (rapidfuzz's Indel opcodes, a
longest-common-subsequence diff over words in C++: a thousand pairs of long outputs in well
under a second, where `difflib` takes milliseconds a pair), a structural diff of JSON documents
(`deepdiff`: the keys and values that changed, not a text diff of two dumps), and the
differences between two lists of tool calls. Pure functions."""

from __future__ import annotations

import json
import re
from typing import Any

from deepdiff import DeepDiff
from rapidfuzz.distance import Indel

WORDS = re.compile(r"\s+|[^\s]+")
CHANGED = {"values_changed", "type_changes"}
ADDED = {"dictionary_item_added", "iterable_item_added", "attribute_added"}
REMOVED = {"dictionary_item_removed", "iterable_item_removed", "attribute_removed"}


def text_diff(base: str, target: str) -> dict[str, Any]:
    """`{"kind": "text", "similarity", "segments": [{"op", "text"}]}` word by word (whitespace
    kept, so the segments joined give each side back)."""
    a, b = WORDS.findall(base), WORDS.findall(target)
    segments: list[dict[str, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []
    for opcode in Indel.opcodes(a, b):
        tag, a0, a1 = opcode.tag, opcode.src_start, opcode.src_end
        b0, b1 = opcode.dest_start, opcode.dest_end
        if tag != "equal":
            deleted += a[a0:a1]
            inserted += b[b0:b1]
            continue
        # A change reads as what went, then what came.
        if deleted:
            segments.append({"op": "delete", "text": "".join(deleted)})
            deleted = []
        if inserted:
            segments.append({"op": "insert", "text": "".join(inserted)})
            inserted = []
        segments.append({"op": "equal", "text": "".join(a[a0:a1])})
    if deleted:
        segments.append({"op": "delete", "text": "".join(deleted)})
    if inserted:
        segments.append({"op": "insert", "text": "".join(inserted)})
    return {"kind": "text", "similarity": round(Indel.normalized_similarity(a, b), 4), "segments": segments}


def _path(item: Any) -> str:
    return str(item.path(root="$"))


def json_diff(base: Any, target: Any) -> dict[str, Any]:
    """`{"kind": "json", "same", "changed": [{"path", "base", "target"}], "added": [{"path",
    "value"}], "removed": [...]}`; paths like `$['forecast']['temp']`."""
    if base == target:  # the common case (a replay's inputs), without building a diff tree
        return {"kind": "json", "same": True, "changed": [], "added": [], "removed": []}
    tree = DeepDiff(base, target, view="tree", verbose_level=2)
    changed, added, removed = [], [], []
    for report, items in tree.items():
        for item in items:
            if report in CHANGED:
                changed.append({"path": _path(item), "base": item.t1, "target": item.t2})
            elif report in ADDED:
                added.append({"path": _path(item), "value": item.t2})
            elif report in REMOVED:
                removed.append({"path": _path(item), "value": item.t1})
    for entries in (changed, added, removed):
        entries.sort(key=lambda entry: entry["path"])
    return {"kind": "json", "same": not (changed or added or removed), "changed": changed,
            "added": added, "removed": removed}  # fmt: skip


def _json_document(text: str) -> Any:
    """An object or array the text holds, or None (a bare number or string is text)."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def output_diff(base: str | None, target: str | None) -> dict[str, Any] | None:
    """Two outputs compared: structurally when both are JSON documents, else word by word;
    None when either side has none."""
    if base is None or target is None:
        return None
    before, after = _json_document(base), _json_document(target)
    if before is not None and after is not None:
        return json_diff(before, after)
    return text_diff(base, target)


def output_change(base: str | None, target: str | None) -> dict[str, Any] | None:
    """Whether two outputs differ, as `output_diff` would judge it (JSON documents by value,
    texts exactly): `{"kind", "same"}`, without building the diff, for the many pairs of a
    comparison; None when either side has none."""
    if base is None or target is None:
        return None
    before, after = _json_document(base), _json_document(target)
    if before is not None and after is not None:
        return {"kind": "json", "same": before == after}
    return {"kind": "text", "same": base == target}


def _arguments(call: dict[str, Any]) -> Any:
    raw = call.get("arguments")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def tool_call_diff(base: list[dict[str, Any]], target: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls paired by tool name in order: `{"same", "added": [calls], "removed": [calls],
    "changed": [{"name", "arguments": json_diff}]}`."""
    remaining = list(target)
    removed, changed = [], []
    for call in base:
        match = next((other for other in remaining if other.get("name") == call.get("name")), None)
        if match is None:
            removed.append({"name": call.get("name"), "arguments": _arguments(call)})
            continue
        remaining.remove(match)
        arguments = json_diff(_arguments(call), _arguments(match))
        if not arguments["same"]:
            changed.append({"name": call.get("name"), "arguments": arguments})
    added = [{"name": call.get("name"), "arguments": _arguments(call)} for call in remaining]
    return {"same": not (added or removed or changed), "added": added, "removed": removed, "changed": changed}
