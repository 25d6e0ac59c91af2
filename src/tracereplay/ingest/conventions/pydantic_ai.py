"""pydantic-ai's request parameters: what its model spans record beside the OTel GenAI keys.

pydantic-ai writes the GenAI semconv (read by `genai`), plus `model_request_parameters`: the
tools as it sends them (`strict` included, which `gen_ai.tool.definitions` leaves out), its
output tools and whether text may end the run (so the `tool_choice` it sends), and a native
structured output's schema (so the `response_format`). Read from there, a replay sends them as
the app did. Its OpenAI models send `max_tokens` as `max_completion_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracereplay.ingest.conventions import Attributes, NormalisedFields
from tracereplay.ingest.conventions.genai import parse_json

KEY = "model_request_parameters"


def detect(attributes: Attributes) -> bool:
    return KEY in attributes


def refine(attributes: Attributes, fields: NormalisedFields) -> None:
    """Tools, tool choice and response format from `model_request_parameters`, over the GenAI
    reading of the same span."""
    request = parse_json(attributes.get(KEY))
    if not isinstance(request, Mapping):
        return
    listed = [*(request.get("function_tools") or ()), *(request.get("output_tools") or ())]
    tools = [tool for tool in map(_tool, listed) if tool is not None]
    parameters = dict(fields.get("invocation_parameters") or {})
    if tools:
        fields["tools"] = tools
        parameters["tool_choice"] = "auto" if request.get("allow_text_output", True) else "required"
    output = request.get("output_object")
    if request.get("output_mode") == "native" and isinstance(output, Mapping):
        schema: dict[str, Any] = {"name": output.get("name") or "output", "schema": output.get("json_schema")}
        if output.get("description") is not None:
            schema["description"] = output["description"]
        if output.get("strict") is not None:
            schema["strict"] = output["strict"]
        parameters["response_format"] = {"type": "json_schema", "json_schema": schema}
    if fields.get("provider") == "openai" and "max_tokens" in parameters:
        parameters["max_completion_tokens"] = parameters.pop("max_tokens")
    if parameters:
        fields["invocation_parameters"] = parameters


def _tool(tool: Any) -> dict[str, Any] | None:
    if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
        return None
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters_json_schema") or {"type": "object", "properties": {}}
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}
