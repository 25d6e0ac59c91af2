"""A user's app, run by tests/test_sdk.py in a venv that has only tracereplay-sdk, `openai` and
one instrumentation library: a two-step support agent whose prompt comes from the server.

    python sdk_app.py openinference|otel-genai

Reads TRACEREPLAY_ENDPOINT, TRACEREPLAY_API_KEY and LLM_BASE_URL; prints one JSON line with
the trace id and the answer (log lines go to stderr). Then, for the cache check, it reads
lines from stdin: each line "get" fetches the prompt again and prints its version (or the
error).
"""

from __future__ import annotations

import json
import logging
import os
import sys

import openai
from opentelemetry import trace

import tracereplay_sdk as tracereplay

HISTORY = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Where an order is",
        "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}},
    },
}


def instrument(library: str) -> None:
    if library == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    else:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()


def main() -> None:
    library = sys.argv[1]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="log: %(message)s")
    client = tracereplay.init(service_name=f"sdk-{library}", environment="test", cache_ttl=0)
    instrument(library)
    llm = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"], api_key="sk-test", max_retries=0)
    prompt = tracereplay.prompts.get("support")
    tracer = trace.get_tracer("support-app")
    with tracer.start_as_current_span("support-agent") as root:
        with prompt.use(company="Acme", history=HISTORY, question="Where is order 42?") as messages:
            assert isinstance(messages, list)
            first = llm.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[LOOKUP])
            call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
            messages += [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": call.id, "type": "function", "function": {
                        "name": call.function.name, "arguments": call.function.arguments}}],  # type: ignore[union-attr]
                },
                {"role": "tool", "tool_call_id": call.id, "content": "shipped yesterday"},
            ]  # fmt: skip
            second = llm.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[LOOKUP])
        trace_id = format(root.get_span_context().trace_id, "032x")
    client.flush()
    print(json.dumps({"trace_id": trace_id, "answer": second.choices[0].message.content}), flush=True)
    for line in sys.stdin:
        if line.strip() == "get":
            try:
                again = tracereplay.prompts.get("support")
                print(json.dumps({"version": again.version}), flush=True)
            except tracereplay.PromptError as exc:
                print(json.dumps({"error": str(exc)}), flush=True)
    client.shutdown()


if __name__ == "__main__":
    main()
