"""tracereplay's client library for LLM apps.

    import tracereplay_sdk as tracereplay

    tracereplay.init(endpoint="http://127.0.0.1:7420", api_key="tr-…")
    prompt = tracereplay.prompts.get("support-agent")            # label "production"
    with prompt.use(company="Acme", history=history, question=question) as messages:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)

See docs/sdk.md in the tracereplay repository.
"""

from __future__ import annotations

from tracereplay_sdk.capture import capturing_http_client, request_recorder
from tracereplay_sdk.prompt import (
    Prompt,
    PromptClient,
    PromptError,
    PromptNotFound,
    PromptUnavailable,
    PromptUse,
    active_use,
)
from tracereplay_sdk.templates import TemplateError
from tracereplay_sdk.tracing import Client, PromptLinkProcessor, current_client, init, is_llm_call

__all__ = [
    "Client",
    "Prompt",
    "PromptClient",
    "PromptError",
    "PromptLinkProcessor",
    "PromptNotFound",
    "PromptUnavailable",
    "PromptUse",
    "TemplateError",
    "active_use",
    "capturing_http_client",
    "current_client",
    "init",
    "is_llm_call",
    "prompts",
    "request_recorder",
]


class _Prompts:
    """`tracereplay_sdk.prompts`: the prompt client of the last `init`."""

    def get(self, name: str, *, label: str | None = "production", version: int | None = None) -> Prompt:
        client = current_client()
        if client is None:
            raise PromptError("call tracereplay_sdk.init(endpoint, api_key) before prompts.get(...)")
        return client.prompts.get(name, label=label, version=version)


prompts = _Prompts()
