"""Pytest fixtures from `tests.support`, registered through `pytest_plugins` in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.llm_server import LLMServer


@pytest.fixture(scope="session")
def _llm_server_session() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm_server(_llm_server_session: LLMServer) -> Iterator[LLMServer]:
    """The loopback OpenAI-compatible server, reset to a fresh script for each test."""
    _llm_server_session.reset()
    yield _llm_server_session
    _llm_server_session.reset()
