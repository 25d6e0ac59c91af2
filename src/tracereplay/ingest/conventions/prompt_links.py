"""The link from an LLM span to the prompt version it was rendered from.

Read beside the conventions rather than by one of them: an OpenInference span is read by
OpenInference alone, yet an app may add tracereplay's own link attributes to it. Sources, the
first present wins: tracereplay's own `tracereplay.prompt.name` / `.version` / `.variables`
(JSON), Langfuse's `langfuse.observation.prompt.name` / `.version` (so a team moving from
Langfuse keeps its links), and OTel GenAI's `gen_ai.prompt.name` / `.version`. OpenInference's
`llm.prompt_template.*` (template, version, variables) is read by the OpenInference convention.
"""

from __future__ import annotations

from typing import Any

import orjson

LINK_KEYS = (
    ("tracereplay.prompt.name", "tracereplay.prompt.version", "tracereplay.prompt.variables"),
    ("langfuse.observation.prompt.name", "langfuse.observation.prompt.version", None),
    ("gen_ai.prompt.name", "gen_ai.prompt.version", None),
)


MAX_VERSION = 2**31 - 1


def link_version(value: Any) -> int | str | None:
    """A recorded version as a number when it is one (3, "3" -> 3), else as text ("v1.0");
    None when nothing usable was recorded. Whatever the attribute held, never raises."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_VERSION else str(value)
    text = (value if isinstance(value, str) else str(value)).strip()[:100]
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_VERSION:
        return int(text)
    return text or None


def prompt_link(attributes: Any) -> dict[str, Any]:
    """`{"name", "version", "variables"}` as far as the span records them; {} for no link."""
    for name_key, version_key, variables_key in LINK_KEYS:
        name = attributes.get(name_key)
        if not isinstance(name, str) or not name:
            continue
        link: dict[str, Any] = {"name": name}
        version = link_version(attributes.get(version_key))
        if version is not None:
            link["version"] = version
        if variables_key is not None:
            variables = _json_object(attributes.get(variables_key))
            if variables is not None:
                link["variables"] = variables
        return link
    return {}


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None
