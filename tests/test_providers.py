"""Providers through the real `openai` and `anthropic` SDKs against the loopback test server:
request and answer mapping, the SDKs' retries, timeouts, key hygiene, the concurrency cap, and
model-name resolution by the registry built from settings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.support.llm_server import Failure, LLMServer, Reply, ToolCall, echo_reply
from tracereplay.config import Settings
from tracereplay.providers.anthropic_provider import DEFAULT_MAX_TOKENS, AnthropicProvider
from tracereplay.providers.base import (
    CallPolicy,
    CompletionRequest,
    Provider,
    ProviderError,
    ProviderNotConfigured,
    UnknownModel,
)
from tracereplay.providers.openai_provider import OpenAIProvider
from tracereplay.providers.registry import ProviderRegistry

KEY = "sk-test-SECRET-0123456789abcdef"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ProviderFactory = Callable[..., Provider]


@pytest.fixture
def make_provider(llm_server: LLMServer) -> Iterator[ProviderFactory]:
    """Build an `openai` or `anthropic` provider pointed at the test server; closed afterwards."""
    made: list[Provider] = []

    def make(kind: str, *, base_url: str | None = None, **policy: Any) -> Provider:
        call_policy = CallPolicy(**{"timeout_seconds": 5.0, "max_retries": 2, "concurrency": 8, **policy})
        provider: Provider
        if kind == "openai":
            url = base_url or llm_server.base_url
            provider = OpenAIProvider("testsrv", base_url=url, api_key=KEY, policy=call_policy)
        else:
            url = base_url or llm_server.anthropic_base_url
            provider = AnthropicProvider(api_key=KEY, base_url=url, policy=call_policy)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def sent_key(request_headers: dict[str, str]) -> str | None:
    """The key a request carried: Anthropic's SDK has sent it as `x-api-key` and as a bearer token."""
    bearer = request_headers.get("authorization", "").removeprefix("Bearer ")
    return request_headers.get("x-api-key") or bearer or None


def ask(text: str, model: str = "test-model", **parameters: Any) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[{"role": "user", "content": text}], parameters=parameters)


# -- OpenAI: request and answer mapping ---------------------------------------------------


def test_openai_completion_sends_parameters_and_normalises_the_answer(
    llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    request = CompletionRequest(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hello there"}],
        parameters={
            "temperature": 0.2,
            "max_tokens": 50,
            "seed": 7,
            "top_k": 5,
            "stream": True,
            "top_p": None,
        },
    )
    response = make_provider("openai").complete(request)

    body = llm_server.bodies[-1]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 50, 7)
    assert body["top_k"] == 5  # not an OpenAI parameter: sent through extra_body for vLLM & co
    assert "stream" not in body and "top_p" not in body  # replays never stream; null removes
    assert llm_server.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    assert response.output_messages == [
        {"role": "assistant", "content": "Echo: hello there", "finish_reason": "stop"}
    ]
    assert response.finish_reason == "stop"
    assert (response.prompt_tokens, response.completion_tokens, response.total_tokens) == (4, 3, 7)
    assert response.model == "gpt-4o-mini"
    assert response.latency_ms > 0 and response.attempts == 1


def test_openai_tool_call_round_trip(llm_server: LLMServer, make_provider: ProviderFactory) -> None:
    provider = make_provider("openai")
    llm_server.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]))
    question = {"role": "user", "content": "Weather in Paris?"}
    first = provider.complete(CompletionRequest("gpt-4o", [question], tools=[WEATHER_TOOL], parameters={}))

    assert llm_server.bodies[-1]["tools"] == [WEATHER_TOOL]
    assert first.finish_reason == "tool_calls"
    call = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert first.output_messages == [
        {"role": "assistant", "tool_calls": [call], "finish_reason": "tool_calls"}
    ]

    llm_server.script("It is sunny in Paris.")
    assistant = {k: v for k, v in first.output_messages[0].items() if k != "finish_reason"}
    result = {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny, 24C"}
    second = provider.complete(
        CompletionRequest("gpt-4o", [question, assistant, result], tools=[WEATHER_TOOL])
    )

    sent = llm_server.bodies[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24C"}
    assert second.output_messages[0]["content"] == "It is sunny in Paris."


def test_openai_multi_part_content_becomes_content_parts(
    llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "url": "https://example.test/cat.png"},
    ]
    make_provider("openai").complete(CompletionRequest("gpt-4o", [{"role": "user", "parts": parts}]))
    assert llm_server.bodies[-1]["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}},
    ]


# -- Anthropic: request and answer mapping ------------------------------------------------


def test_audio_files_and_refusals_in_a_captured_request_are_sent_as_they_came() -> None:
    from tracereplay.ingest.conventions.request_body import extract
    from tracereplay.providers.openai_provider import to_openai_messages

    pdf, refusal = "data:application/pdf;base64,JVBERi0=", "I can't help with that."
    messages = [
        {"role": "user", "content": [
            {"type": "text", "text": "Transcribe this, and summarise the file."},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "notes.pdf", "file_data": pdf}},
        ]},
        {"role": "assistant", "content": None, "refusal": refusal, "audio": {"id": "audio_1"}},
        {"role": "user", "content": "Why not?"},
    ]  # fmt: skip
    body = {"model": "gpt-4o-audio-preview", "messages": messages, "modalities": ["text", "audio"]}
    attributes = {"tracereplay.request.path": "/v1/chat/completions",
                  "tracereplay.request.body": json.dumps(body)}  # fmt: skip
    fields = extract(attributes)
    assert fields["invocation_parameters"] == {"modalities": ["text", "audio"]}
    sent = to_openai_messages(fields["input_messages"])
    assert sent[0] == messages[0] and sent[2] == messages[2]
    assert sent[1] == {"role": "assistant", "content": "", "refusal": refusal, "audio": {"id": "audio_1"}}


def test_anthropic_maps_system_tools_tool_results_and_parameters(
    llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    llm_server.script(
        Reply("Let me check Rome too.", tool_calls=[ToolCall("get_weather", {"city": "Rome"}, id="toolu_9")])
    )
    messages = [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ]
    parameters = {
        "temperature": 0.3,
        "stop": "END",
        "seed": 1,
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    response = make_provider("anthropic").complete(
        CompletionRequest("claude-test-model", messages, tools=[WEATHER_TOOL], parameters=parameters)
    )

    request = llm_server.requests[-1]
    assert request.path == "/v1/messages"
    assert sent_key(request.headers) == KEY
    body = request.body
    assert body["system"] == "Be brief"
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    tool_result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}  # text as sent
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [tool_result]},
    ]
    function = WEATHER_TOOL["function"]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": function["description"],
            "input_schema": function["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS  # required by the API; the span had none
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.3
    assert "seed" not in body and "stop" not in body  # OpenAI-only: dropped, not sent

    assert response.output_messages == [
        {
            "role": "assistant",
            "content": "Let me check Rome too.",
            "tool_calls": [{"id": "toolu_9", "name": "get_weather", "arguments": '{"city": "Rome"}'}],
            "finish_reason": "tool_calls",
        }
    ]
    assert response.finish_reason == "tool_calls"
    assert response.prompt_tokens is not None and response.completion_tokens is not None
    assert response.total_tokens == response.prompt_tokens + response.completion_tokens


def test_anthropic_text_answer_usage_and_stop_reasons(
    llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    provider = make_provider("anthropic")
    llm_server.script(Reply("Hi there", prompt_tokens=12, completion_tokens=2))
    response = provider.complete(ask("hello", model="claude-test-model", max_tokens=64))
    assert llm_server.bodies[-1]["max_tokens"] == 64
    assert llm_server.bodies[-1]["messages"] == [{"role": "user", "content": "hello"}]
    assert response.output_messages == [{"role": "assistant", "content": "Hi there", "finish_reason": "stop"}]
    assert (response.prompt_tokens, response.completion_tokens, response.total_tokens) == (12, 2, 14)
    assert response.model == "claude-test-model"

    llm_server.script(Reply("cut", finish_reason="length"))
    assert provider.complete(ask("more", model="claude-test-model")).finish_reason == "length"


def test_anthropic_images_become_image_blocks(llm_server: LLMServer, make_provider: ProviderFactory) -> None:
    parts = [
        {"type": "text", "text": "Compare"},
        {"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="},
        {"type": "image", "url": "https://example.test/cat.png"},
    ]
    make_provider("anthropic").complete(
        CompletionRequest("claude-test-model", [{"role": "user", "parts": parts}])
    )
    assert llm_server.bodies[-1]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.png"}},
    ]


# -- Both SDKs: retries, timeouts, errors ---------------------------------------------------

BOTH = pytest.mark.parametrize("kind", ["openai", "anthropic"])


@BOTH
def test_rate_limit_is_retried_after_the_retry_after_delay(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    llm_server.script(Failure.rate_limited(retry_after=0.3), "made it")
    started = time.monotonic()
    response = make_provider(kind).complete(ask("hi"))
    elapsed_ms = (time.monotonic() - started) * 1000

    assert len(llm_server.bodies) == 2
    assert response.output_messages[0]["content"] == "made it"
    assert response.attempts == 2
    assert elapsed_ms >= 300  # the SDK waited as Retry-After asked
    assert response.latency_ms <= elapsed_ms - 300  # latency is the successful attempt's alone


@BOTH
def test_an_hour_long_retry_after_fails_now_and_says_why(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    llm_server.script(Failure.rate_limited(retry_after=3600), "too late")
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        make_provider(kind).complete(ask("hi"))
    assert time.monotonic() - started < 5  # not an hour holding a replay slot
    assert len(llm_server.bodies) == 1
    assert "HTTP 429" in caught.value.message
    assert "asked to retry after 3600 s, longer than a replay waits (120 s)" in caught.value.message
    assert "retried" not in caught.value.message


@BOTH
def test_permanent_server_error_fails_after_every_retry(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    # A tiny Retry-After replaces the SDK's 0.5 s, 1 s, … back-off so the test stays fast.
    llm_server.script(*[Failure(status=500, message="upstream exploded", retry_after=0.01)] * 4)
    provider = make_provider(kind, max_retries=3)
    with pytest.raises(ProviderError) as caught:
        provider.complete(ask("hi"))

    assert len(llm_server.bodies) == 1 + 3
    error = caught.value
    assert error.status == 502
    assert error.message.startswith(f"{provider.name} call to model 'test-model' failed with HTTP 500")
    assert "upstream exploded" in error.message and "retried up to 3 times" in error.message
    assert error.details == {"provider": provider.name, "model": "test-model", "http_status": 500}
    assert error.__cause__ is not None  # the SDK's exception, chained


@BOTH
def test_timeout_is_retried_then_reported(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    llm_server.script(Failure.hang_for(5), Failure.hang_for(5))
    provider = make_provider(kind, timeout_seconds=0.3, max_retries=1)
    with pytest.raises(ProviderError, match=r"timed out after 0\.3 s \(retried up to 1 times\)"):
        provider.complete(ask("hi"))
    assert len(llm_server.bodies) == 2


@BOTH
def test_unreachable_endpoint_is_a_provider_error(kind: str, make_provider: ProviderFactory) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    provider = make_provider(kind, base_url=base_url, max_retries=0)
    with pytest.raises(ProviderError, match=f"could not reach {base_url}"):
        provider.complete(ask("hi"))


@BOTH
def test_error_text_never_contains_the_api_key(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    llm_server.script(Failure(status=401, message=f"Incorrect API key provided: {KEY}."))
    with pytest.raises(ProviderError) as caught:
        make_provider(kind).complete(ask("hi"))
    error = caught.value
    assert "HTTP 401" in error.message and "Incorrect API key provided: ***" in error.message
    assert KEY not in str(error) and KEY not in repr(error.details)
    assert len(llm_server.bodies) == 1  # 401 is not retried


@BOTH
def test_concurrency_cap_bounds_calls_in_flight(
    kind: str, llm_server: LLMServer, make_provider: ProviderFactory
) -> None:
    lock = threading.Lock()
    in_flight = peak = 0

    def slow_echo(body: dict[str, Any]) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1
        return echo_reply(body)

    llm_server.default = slow_echo
    provider = make_provider(kind, concurrency=2)
    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda i=i: answers.append(provider.complete(ask(f"n{i}")).output_messages[0]["content"])
        )
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [f"Echo: n{i}" for i in range(6)]
    assert peak == 2


# -- Settings and the registry ------------------------------------------------------------

PROVIDER_ENV = [
    f"{prefix}{name}"
    for prefix in ("", "TRACEREPLAY_")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
] + ["TRACEREPLAY_OPENAI_COMPATIBLE", "TRACEREPLAY_CONFIG", "TR_TEST_ROUTER_KEY"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACEREPLAY_HOME", str(tmp_path))  # no config.toml there
    return monkeypatch


def test_settings_read_the_sdk_env_vars_and_hide_keys(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", KEY)
    clean_env.setenv("OPENAI_BASE_URL", "http://gateway.test/v1")
    clean_env.setenv("ANTHROPIC_API_KEY", "")  # set but empty: no key, as for the SDKs
    settings = Settings()
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == KEY
    assert settings.openai_base_url == "http://gateway.test/v1"
    assert settings.anthropic_api_key is None
    assert KEY not in repr(settings) and KEY not in settings.model_dump_json()

    clean_env.setenv("TRACEREPLAY_OPENAI_API_KEY", "sk-prefixed")
    prefixed = Settings().openai_api_key
    assert prefixed is not None and prefixed.get_secret_value() == "sk-prefixed"


def test_openai_compatible_endpoints_from_toml_and_json(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'provider_concurrency = 3\nopenai_api_key = "sk-from-file"\n'
        "[[openai_compatible]]\n"
        'name = "router"\nbase_url = "http://router.test/v1"\napi_key_env = "TR_TEST_ROUTER_KEY"\n'
        'models = ["mixtral"]\n'
    )
    clean_env.setenv("TRACEREPLAY_CONFIG", str(config))
    clean_env.setenv("TR_TEST_ROUTER_KEY", "router-secret")
    settings = Settings()
    assert settings.provider_concurrency == 3
    assert (
        settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == "sk-from-file"
    )
    (endpoint,) = settings.openai_compatible
    assert (endpoint.name, endpoint.base_url, endpoint.models) == (
        "router",
        "http://router.test/v1",
        ["mixtral"],
    )
    assert endpoint.api_key is not None and endpoint.api_key.get_secret_value() == "router-secret"

    endpoints = [{"name": "ollama", "base_url": "http://localhost:11434/v1", "models": ["llama3.2:3b"]}]
    clean_env.setenv("TRACEREPLAY_OPENAI_COMPATIBLE", json.dumps(endpoints))
    (from_env,) = Settings().openai_compatible
    assert (from_env.name, from_env.api_key_env, from_env.api_key) == ("ollama", "", None)


@pytest.fixture
def registry(
    clean_env: pytest.MonkeyPatch, llm_server: LLMServer, tmp_path: Path
) -> Iterator[ProviderRegistry]:
    """OpenAI (at the test server), two declared endpoints (one keyless, one whose key env var
    is missing), no Anthropic key."""
    settings = Settings(
        home=tmp_path,
        openai_api_key=KEY,
        openai_base_url=llm_server.base_url,
        openai_compatible=[
            {"name": "ollama", "base_url": llm_server.base_url, "models": ["llama3.2:3b", "qwen3"]},
            {
                "name": "router",
                "base_url": llm_server.base_url,
                "api_key_env": "TR_TEST_ROUTER_KEY",
                "models": ["mixtral"],
            },
        ],
        provider_max_retries=0,
    )
    built = ProviderRegistry.from_settings(settings)
    yield built
    built.close()


def resolved(registry: ProviderRegistry, model_ref: str) -> tuple[str, str]:
    provider, model = registry.resolve(model_ref)
    return provider.name, model


def test_registry_resolves_explicit_bare_and_conventional_names(registry: ProviderRegistry) -> None:
    assert resolved(registry, "ollama:llama3.2:3b") == ("ollama", "llama3.2:3b")
    assert resolved(registry, "llama3.2:3b") == ("ollama", "llama3.2:3b")  # bare, with a colon
    assert resolved(registry, "qwen3") == ("ollama", "qwen3")
    assert resolved(registry, "openai:my-fine-tune") == ("openai", "my-fine-tune")
    assert resolved(registry, "OpenAI:gpt-4o") == ("openai", "gpt-4o")  # as some spans record it
    assert resolved(registry, "gpt-4o-mini") == ("openai", "gpt-4o-mini")  # in the SDK's list
    assert resolved(registry, "gpt-99-preview") == ("openai", "gpt-99-preview")  # by convention
    assert resolved(registry, "o3-mini") == ("openai", "o3-mini")
    assert ("ollama", "qwen3") in registry.available_models()
    assert ("openai", "gpt-4o-mini") in registry.available_models()
    assert {p for p, _ in registry.available_models()} == {"ollama", "openai", "local"}
    assert resolved(registry, "gemma-3-270m") == ("local", "gemma-3-270m")  # the installed local model


def test_registry_refuses_unconfigured_providers_and_unknown_models(registry: ProviderRegistry) -> None:
    for ref in ("claude-sonnet-4-6", "anthropic:claude-anything"):
        with pytest.raises(ProviderNotConfigured, match="ANTHROPIC_API_KEY") as caught:
            registry.resolve(ref)
        assert caught.value.status == 422
    with pytest.raises(ProviderNotConfigured, match="set TR_TEST_ROUTER_KEY"):
        registry.resolve("router:mixtral")
    with pytest.raises(
        UnknownModel, match=r"name it as provider:model \(providers: ollama, local, openai,"
    ) as unknown:
        registry.resolve("mystery-model")
    assert unknown.value.status == 422


def test_no_key_and_no_base_url_means_no_openai(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = ProviderRegistry.from_settings(Settings(home=tmp_path))
    assert [p.name for p in empty.providers] == ["local"]  # installed with the dev extras
    assert empty.available_models() == [("local", "gemma-3-270m")]
    with pytest.raises(ProviderNotConfigured, match="OPENAI_API_KEY"):
        empty.resolve("gpt-4o")


def test_registry_providers_call_the_configured_endpoints(
    clean_env: pytest.MonkeyPatch, llm_server: LLMServer, tmp_path: Path
) -> None:
    clean_env.setenv("TR_TEST_ROUTER_KEY", "router-secret")
    settings = Settings(
        home=tmp_path,
        anthropic_api_key=KEY,
        anthropic_base_url=llm_server.anthropic_base_url,
        openai_compatible=[
            {
                "name": "router",
                "base_url": llm_server.base_url,
                "api_key_env": "TR_TEST_ROUTER_KEY",
                "models": ["mixtral"],
            }
        ],
    )
    registry = ProviderRegistry.from_settings(settings)
    try:
        for ref, path, key in [
            ("mixtral", "/v1/chat/completions", "router-secret"),
            ("claude-haiku-4-5", "/v1/messages", KEY),
        ]:
            provider, model = registry.resolve(ref)
            assert provider.complete(ask("ping", model=model)).output_messages[0]["content"] == "Echo: ping"
            request = llm_server.requests[-1]
            assert request.path == path and sent_key(request.headers) == key
    finally:
        registry.close()


THINKING = {"type": "thinking", "thinking": "hm", "signature": "s1"}
USE = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}


def test_an_anthropic_request_read_from_a_span_is_sent_back_as_it_came() -> None:
    from tracereplay.ingest.conventions.anthropic_request import extract
    from tracereplay.providers.anthropic_provider import to_anthropic_call

    body = {
        "model": "claude-haiku-5-5", "max_tokens": 100, "tool_choice": {"type": "none"},  # no tools
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look:"}]},
            {"role": "assistant", "content": [THINKING, USE]},
            {"role": "user", "content": [{"type": "text", "text": "first"},
                                         {"type": "tool_result", "tool_use_id": "t1", "content": ""}]},
        ],
    }  # fmt: skip
    fields = extract(body)
    request = CompletionRequest(body["model"], fields["input_messages"], fields.get("tools"),
                                fields["invocation_parameters"])  # fmt: skip
    assert to_anthropic_call(request) == body  # order within a turn, empty results, lists and marks kept


def test_a_claude_call_replayed_on_gpt_leaves_out_what_only_anthropic_takes() -> None:
    from tracereplay.providers.openai_provider import _from_anthropic, to_openai_messages

    marked = {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    messages = [{"role": "system", "parts": [marked]},
                {"role": "assistant", "parts": [THINKING, {"type": "text", "text": "Sunny."}]}]  # fmt: skip
    assert to_openai_messages(messages) == [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
    ]
    choice = {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    converted = _from_anthropic({"tool_choice": choice, "metadata": {"user_id": "u-1"}, "temperature": 0.2})
    assert converted == {"tool_choice": {"type": "function", "function": {"name": "f"}},
                         "parallel_tool_calls": False, "user": "u-1", "temperature": 0.2}  # fmt: skip
