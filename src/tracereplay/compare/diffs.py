"""What changed between two outputs: a word-level diff of texts (`difflib`, autojunk off, so
long outputs are not diffed as if their common words were noise), a structural diff of JSON
documents (`deepdiff`: the keys and values that changed, not a text diff of two dumps), and the
differences between two lists of tool calls. Pure functions."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Literal

from deepdiff import DeepDiff

WORDS = re.compile(r"\s+|[^\s]+")
CHANGED = {"values_changed", "type_changes"}
ADDED = {"dictionary_item_added", "iterable_item_added", "attribute_added"}
REMOVED = {"dictionary_item_removed", "iterable_item_removed", "attribute_removed"}

Op = Literal["equal", "insert", "delete"]


def text_diff(base: str, target: str) -> dict[str, Any]:
    """`{"kind": "text", "similarity", "segments": [{"op", "text"}]}` word by word (whitespace
    kept, so the segments joined give each side back)."""
    a, b = WORDS.findall(base), WORDS.findall(target)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    segments: list[dict[str, str]] = []

    def add(op: Op, words: list[str]) -> None:
        if not words:
            return
        if segments and segments[-1]["op"] == op:
            segments[-1]["text"] += "".join(words)
        else:
            segments.append({"op": op, "text": "".join(words)})

    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", a[a0:a1])
        else:
            add("delete", a[a0:a1])
            add("insert", b[b0:b1])
    return {"kind": "text", "similarity": round(matcher.ratio(), 4), "segments": segments}


def _path(item: Any) -> str:
    return str(item.path(root="$"))


def json_diff(base: Any, target: Any) -> dict[str, Any]:
    """`{"kind": "json", "same", "changed": [{"path", "base", "target"}], "added": [{"path",
    "value"}], "removed": [...]}`; paths like `$['forecast']['temp']`."""
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
