"""Span records sent from a decoding helper process to the writer (by pickle, as the process
pool sends them) read exactly like the records that were sent, however they are used."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime

from tracereplay.ingest.records import JSON_FIELDS, SpanRecord

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def record() -> SpanRecord:
    return SpanRecord(
        "ab" * 16, "cd" * 8, None, "chat", NOW, NOW, kind="LLM",
        attributes={"llm.model_name": "gpt-4o-mini", "n": 1}, events=[{"name": "start"}],
        invocation_parameters={"temperature": 0.2}, input_messages=[{"role": "user", "content": "Hi"}],
        output_messages=[{"role": "assistant", "content": "Hello"}], tools=[{"type": "function"}],
        prompt_template={"name": "greeting", "variables": {"who": "you"}},
    )  # fmt: skip


def sent(original: SpanRecord) -> SpanRecord:
    received: SpanRecord = pickle.loads(pickle.dumps(original))
    return received


def test_a_received_record_keeps_its_json_as_text_until_read() -> None:
    original = record()
    received = sent(original)
    text = received.json_text()
    assert text is not None and len(text) == len(JSON_FIELDS)
    assert text[JSON_FIELDS.index("tools")] == '[{"type":"function"}]'
    # Reading any JSON field, not only the first, gives the value sent.
    assert sent(original).tools == [{"type": "function"}]
    assert sent(original).prompt_template == {"name": "greeting", "variables": {"who": "you"}}
    assert received == original
    assert received.json_text() is None  # read: the store now encodes the values themselves


def test_a_field_set_on_a_received_record_wins_over_its_text() -> None:
    received = sent(record())
    received.input_messages = [{"role": "user", "content": "changed"}]
    assert received.json_text() is None
    assert received.input_messages == [{"role": "user", "content": "changed"}]
    assert received.output_messages == [{"role": "assistant", "content": "Hello"}]
    assert sent(received).input_messages == [{"role": "user", "content": "changed"}]


def test_copies_replacements_and_missing_attributes() -> None:
    original = record()
    assert not hasattr(sent(original), "no_such_field")
    replaced = dataclasses.replace(sent(original), attributes={"other": True})
    assert replaced.attributes == {"other": True} and replaced.events == [{"name": "start"}]
    assert copy.deepcopy(sent(original)) == original
    assert copy.copy(original) == original
    assert SpanRecord("ab" * 16, "cd" * 8, None, "x", NOW, NOW).events is None
