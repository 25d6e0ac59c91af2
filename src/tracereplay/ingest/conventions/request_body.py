"""The exact request an app's OpenAI or Anthropic client sent, when the SDK captured it
(`tracereplay_sdk.capturing_http_client`): `tracereplay.request.body`, the body as JSON text.
What it says of the request (messages, tools, every other argument) wins over what the
instrumentation library recorded of it. OpenAI's chat completions and Anthropic's Messages
(`tracereplay.request.path`): another API's body is kept, not read."""

from __future__ import annotations

from typing import Any

from tracereplay.ingest.conventions import REQUEST_BODY, Attributes, NormalisedFields, anthropic_request
from tracereplay.ingest.conventions.genai import openai_content, openai_tool_calls, parse_json

REQUEST_PATH = "tracereplay.request.path"
# Arguments that are not the request's content or parameters.
_NOT_PARAMETERS = frozenset({"model", "messages", "tools", "stream", "stream_options"})


def extract(attributes: Attributes) -> NormalisedFields:
    """The request's fields, or nothing when the body is not a chat-completions request (another
    API's, such as embeddings or Anthropic's Messages, or cut short)."""
    path = attributes.get(REQUEST_PATH)
    if not isinstance(path, str) or not path.endswith(("/chat/completions", "/messages")):
        return {}
    body = parse_json(attributes.get(REQUEST_BODY))
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return {}
    if path.endswith("/messages"):  # Anthropic's Messages API
        return anthropic_request.extract(body)
    fields: NormalisedFields = {
        "input_messages": [_message(m) for m in body["messages"] if isinstance(m, dict)]
    }
    if isinstance(body.get("tools"), list):
        fields["tools"] = body["tools"]
    fields["invocation_parameters"] = {k: v for k, v in body.items() if k not in _NOT_PARAMETERS}
    if isinstance(body.get("model"), str):
        fields["model"] = body["model"]
    return fields


def _message(sent: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": sent.get("role", "user")}
    openai_content(message, sent.get("content"))
    calls = openai_tool_calls(sent.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    for key in ("tool_call_id", "name", "refusal", "audio"):  # an assistant's refusal, its audio's id
        if sent.get(key) is not None:
            message[key] = sent[key]
    return message
