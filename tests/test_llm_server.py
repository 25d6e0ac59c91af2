"""The loopback LLM test server, driven through the official `openai` SDK."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.support.llm_server import Failure, LLMServer, Reply, ToolCall


def client(server: LLMServer, **options: object) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key="test", **options)


def test_default_echo_reply_counts_words(llm_server: LLMServer) -> None:
    response = client(llm_server).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hello there"}],
    )
    assert response.choices[0].message.content == "Echo: hello there"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "gpt-4o-mini"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 3)


def test_max_tokens_cuts_the_echo(llm_server: LLMServer) -> None:
    response = client(llm_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "one two three four"}], max_tokens=2
    )
    assert response.choices[0].message.content == "Echo: one"
    assert response.choices[0].finish_reason == "length"


def test_scripted_replies_in_order_and_requests_recorded(llm_server: LLMServer) -> None:
    llm_server.script("first", Reply("second", prompt_tokens=100, completion_tokens=5, model="other"))
    sdk = client(llm_server)
    texts = []
    for question in ("a", "b", "c"):
        response = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])
        texts.append(response.choices[0].message.content)
    assert texts == ["first", "second", "Echo: c"]
    assert response.model == "m"
    assert [b["messages"][0]["content"] for b in llm_server.bodies] == ["a", "b", "c"]
    assert llm_server.requests[0].path == "/v1/chat/completions"
    assert llm_server.requests[0].headers["authorization"] == "Bearer test"
    assert llm_server.pending == 0


def test_tool_call_reply(llm_server: LLMServer) -> None:
    llm_server.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]))
    response = client(llm_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "weather?"}]
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "get_weather",
        '{"city": "Paris"}',
    )


def test_streamed_text_and_usage(llm_server: LLMServer) -> None:
    llm_server.script(Reply("streamed words arrive", prompt_tokens=7, completion_tokens=3))
    stream = client(llm_server).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed words arrive"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 10


def test_streamed_tool_call_is_reassembled(llm_server: LLMServer) -> None:
    llm_server.script(Reply(tool_calls=[ToolCall("lookup", '{"q": "otel"}', id="call_9")]))
    stream = client(llm_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "go"}], stream=True
    )
    arguments = ""
    names = []
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            arguments += (delta.function and delta.function.arguments) or ""
            if delta.function and delta.function.name:
                names.append(delta.function.name)
    assert names == ["lookup"]
    assert arguments == '{"q": "otel"}'


def test_text_completions_and_models(llm_server: LLMServer) -> None:
    sdk = client(llm_server)
    completion = sdk.completions.create(model="instruct", prompt="say hi")
    assert completion.choices[0].text == "Echo: say hi"
    streamed = sdk.completions.create(model="instruct", prompt="say hi", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "Echo: say hi"
    llm_server.models = ["local-model"]
    assert [m.id for m in sdk.models.list()] == ["local-model"]


def test_rate_limit_is_retried_after_retry_after(llm_server: LLMServer) -> None:
    llm_server.script(Failure.rate_limited(retry_after=0.1), "after the limit")
    response = client(llm_server, max_retries=1).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert response.parse().choices[0].message.content == "after the limit"
    assert len(llm_server.requests) == 2


def test_rate_limit_error_carries_retry_after(llm_server: LLMServer) -> None:
    llm_server.script(Failure.rate_limited(retry_after=3))
    with pytest.raises(openai.RateLimitError) as raised:
        client(llm_server).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers["Retry-After"] == "3"


def test_server_error(llm_server: LLMServer) -> None:
    llm_server.script(Failure.server_error("boom"))
    with pytest.raises(openai.InternalServerError, match="boom"):
        client(llm_server).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def test_hang_times_the_client_out(llm_server: LLMServer) -> None:
    llm_server.script(Failure.hang_for(30))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(llm_server, timeout=0.2).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert time.monotonic() - started < 5
    # The stalled handler is released by reset(), and the server keeps answering.
    llm_server.reset()
    assert client(llm_server).models.list().data


def test_latency(llm_server: LLMServer) -> None:
    llm_server.latency = 0.2
    started = time.monotonic()
    client(llm_server).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started >= 0.2


def test_unknown_path_and_bad_json(llm_server: LLMServer) -> None:
    assert httpx.post(llm_server.base_url + "/nope", json={}).status_code == 404
    response = httpx.post(
        llm_server.base_url + "/chat/completions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_start_and_stop_are_fast() -> None:
    started = time.monotonic()
    with LLMServer() as server:
        assert httpx.get(server.base_url + "/models").status_code == 200
    assert time.monotonic() - started < 1
