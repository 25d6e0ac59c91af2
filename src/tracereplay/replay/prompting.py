"""Replaying with another version of a prompt template (DESIGN rule 2).

Every LLM span produced from any version of the template is re-rendered with its own recorded
variables, and only what the template produced is replaced: the span's recorded version,
rendered with those variables, must be found in its input (the leading messages for a chat
template, inside one message's text for a text template) and the new version's rendering takes
its place; later messages (tool calls, tool results, further turns) stay. Other LLM spans keep
their messages. The plan is computed at request time, where any problem refuses the replay
with the span ids and variable names, and again by the executor (versions never change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.errors import NotFound, Unprocessable
from tracereplay.ingest.records import SpanRecord
from tracereplay.prompts import templates
from tracereplay.prompts.service import (
    PromptLink,
    PromptVersionView,
    get_version,
    get_version_by_id,
    resolve_links,
)


@dataclass(frozen=True)
class PromptRewrite:
    """One LLM span as the new version renders it."""

    input_messages: list[dict[str, Any]]
    prompt_template: dict[str, Any]  # the link the replayed span records
    model: str | None  # the version's config: model, and the parameters beside it
    parameters: dict[str, Any]


class _SpanProblem(Exception):
    def __init__(self, reason: str, missing: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = list(missing)


def _link(span: SpanRecord) -> dict[str, Any]:
    link = span.prompt_template
    return link if isinstance(link, dict) else {}


def _variables(link: dict[str, Any]) -> dict[str, Any]:
    variables = link.get("variables")
    if isinstance(variables, str):
        try:
            variables = orjson.loads(variables)
        except orjson.JSONDecodeError:
            return {}
    return variables if isinstance(variables, dict) else {}


def _same(recorded: dict[str, Any], rendered: dict[str, Any]) -> bool:
    return recorded.get("role") == rendered.get("role") and recorded.get("content") == rendered.get("content")


def _same_turn(recorded: dict[str, Any], given: dict[str, Any]) -> bool:
    """A recorded message against one a placeholder variable held: the instrumentation may
    have recorded it in another shape (tool calls, empty content), so the role, and the text
    where both have one."""
    if recorded.get("role") != given.get("role"):
        return False
    text, other = recorded.get("content"), given.get("content")
    return not (isinstance(text, str) and isinstance(other, str) and text != other)


def _chat_rewrite(
    messages: list[dict[str, Any]], recorded_body: Any, target_body: Any, variables: dict[str, Any]
) -> list[dict[str, Any]]:
    """The leading messages the recorded version rendered, replaced by the new version's. A
    placeholder keeps the messages recorded for it (as the app sent them, tool calls and all)."""
    recorded_slices: dict[str, list[dict[str, Any]]] = {}
    position = 0
    for name, rendered in templates.segments(recorded_body, variables):
        chunk = messages[position : position + len(rendered)]
        same = _same_turn if name is not None else _same
        if len(chunk) < len(rendered) or not all(same(m, r) for m, r in zip(chunk, rendered, strict=True)):
            raise _SpanProblem(
                "its input does not start with its recorded version rendered with its variables"
            )
        if name is not None:
            recorded_slices.setdefault(name, chunk)
        position += len(rendered)
    head = [
        message
        for name, rendered in templates.segments(target_body, variables)
        for message in (recorded_slices.get(name, rendered) if name is not None else rendered)
    ]
    return head + messages[position:]


def rewrite(
    span: SpanRecord, recorded_type: str, recorded_body: Any, target: PromptVersionView
) -> PromptRewrite:
    """The span's input with the target version's rendering in place of the recorded one's."""
    link = _link(span)
    variables = _variables(link)
    try:
        old = templates.render(recorded_type, recorded_body, variables)
    except Unprocessable as exc:
        raise _SpanProblem(
            f"its recorded variables do not render its recorded version ({exc.message})"
        ) from exc
    needed = target.variables.names
    missing = [name for name in needed if name not in variables]
    if missing:
        raise _SpanProblem(
            f"version {target.version} needs variable{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}, which the span did not record",
            missing,
        )
    try:
        new = target.render(variables)
    except Unprocessable as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        raise _SpanProblem(exc.message, details.get("missing_variables", [])) from exc
    messages = [dict(message) for message in span.input_messages or []]
    if isinstance(old, list) and isinstance(new, list):
        messages = _chat_rewrite(messages, recorded_body, target.prompt, variables)
    elif isinstance(old, str) and isinstance(new, str):
        if not old:
            raise _SpanProblem(
                "its recorded version renders to empty text, which cannot be found in its input"
            )
        for message in messages:
            content = message.get("content")
            if isinstance(content, str) and old in content:
                message["content"] = content.replace(old, new, 1)
                break
        else:
            raise _SpanProblem(
                "no message of its input contains its recorded version rendered with its variables"
            )
    else:
        raise _SpanProblem(
            f"its recorded version is a {recorded_type} prompt, version {target.version} is not"
        )
    config = dict(target.config or {})
    model = config.pop("model", None)
    return PromptRewrite(
        messages,
        {"name": target.name, "version": target.version, "id": target.version_id, "variables": variables},
        str(model) if model else None,
        config,
    )


def plan_prompt_replay(
    sessions: sessionmaker[Session], project_rowid: int, version_id: str, llm_spans: Sequence[SpanRecord]
) -> dict[str, PromptRewrite]:
    """Span id -> its rewrite, for every LLM span produced from any version of the template of
    `version_id`; Unprocessable listing every span that cannot be rewritten, and why."""
    try:
        target = get_version_by_id(sessions, project_rowid, version_id)
    except NotFound as exc:
        raise Unprocessable(
            f"{exc.message}; GET /api/v1/prompts/NAME/versions lists a prompt's version ids"
        ) from exc
    with sessions() as session:
        links = resolve_links(session, project_rowid, llm_spans)
    linked = [span for span in llm_spans if span.span_id in links and links[span.span_id].name == target.name]
    if not linked:
        raise Unprocessable(
            f"no LLM span of this trace was produced from prompt {target.name!r}; link spans to their "
            "prompt version when recording (see docs/prompts.md)"
        )
    rewrites: dict[str, PromptRewrite] = {}
    problems: list[dict[str, Any]] = []
    recorded_versions: dict[Any, tuple[str, Any]] = {}
    for span in linked:
        link = links[span.span_id]
        try:
            if link.version not in recorded_versions:
                recorded_versions[link.version] = _recorded(
                    sessions, project_rowid, target, link, _link(span)
                )
            rewrites[span.span_id] = rewrite(span, *recorded_versions[link.version], target)
        except _SpanProblem as problem:
            problems.append({"span_id": span.span_id, "span": span.name, "reason": problem.reason,
                             "missing_variables": problem.missing})  # fmt: skip
    if problems:
        summary = "; ".join(f"span {p['span_id']} ({p['span']}): {p['reason']}" for p in problems[:5])
        raise Unprocessable(
            f"cannot replay with version {target.version} of prompt {target.name!r}: {summary}",
            details={"spans": problems},
        )
    return rewrites


def _recorded(
    sessions: sessionmaker[Session],
    project_rowid: int,
    target: PromptVersionView,
    link: PromptLink,
    recorded: dict[str, Any],
) -> tuple[str, Any]:
    """The type and body of the version a span was rendered from: the stored one, else the
    template the span recorded inline (OpenInference's `llm.prompt_template.template`)."""
    if link.linked and isinstance(link.version, int):
        stored = get_version(sessions, project_rowid, target.name, version=link.version)
        return stored.type, stored.prompt
    if isinstance(recorded.get("template"), str) and target.type == "text":
        return "text", recorded["template"]
    raise _SpanProblem(f"its link is unlinked: {link.reason}")
