"""Prompt templates of a project: immutable numbered versions, labels, rendering, diffs.

A version is written once and never changed: a new text is a new version. `latest` always
names the highest version; every other label (`production`, `staging`, …) points at the
version it was last moved to, and a move is one atomic upsert. Surfaces get views.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import PromptLabel, PromptTemplate, PromptVersion, utcnow
from tracereplay.db.upsert import upsert
from tracereplay.errors import Conflict, NotFound, Unprocessable
from tracereplay.ingest.conventions.prompt_links import link_version
from tracereplay.ingest.records import SpanRecord
from tracereplay.prompts import templates
from tracereplay.prompts.templates import Variables

LATEST = "latest"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,199}")
LABEL = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")


@dataclass(frozen=True)
class PromptVersionView:
    version_id: str
    name: str
    version: int
    type: str
    prompt: Any  # text: a string; chat: a list of messages and placeholders
    config: dict[str, Any] | None
    commit_message: str | None
    labels: list[str]
    created_at: datetime

    @property
    def variables(self) -> Variables:
        return templates.variables(self.type, self.prompt)

    def render(self, values: dict[str, Any]) -> str | list[dict[str, Any]]:
        return templates.render(self.type, self.prompt, values)


@dataclass(frozen=True)
class PromptTemplateView:
    name: str
    type: str
    latest_version: int
    labels: dict[str, int]  # label -> version, `latest` included
    created_at: datetime
    updated_at: datetime  # when its newest version was written


def _checked_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise Unprocessable(
            f"invalid prompt name {name[:80]!r}: 1 to 200 letters, digits, spaces, _ . - (starting "
            "with a letter or digit)"
        )
    return name


def _checked_label(label: str) -> str:
    if label == LATEST:
        raise Unprocessable('the "latest" label always names the newest version; it cannot be set or removed')
    if not LABEL.fullmatch(label):
        raise Unprocessable(
            f"invalid label {label[:80]!r}: 1 to 100 lowercase letters, digits, _ . - (e.g. production)"
        )
    return label


def _template(session: Session, project_rowid: int, name: str) -> PromptTemplate:
    if not NAME.fullmatch(name):  # also keeps NUL and other bytes PostgreSQL refuses out of queries
        raise NotFound(f"no prompt named {name[:80]!r} in this project; GET /api/v1/prompts lists them")
    template = session.scalar(
        select(PromptTemplate).where(
            PromptTemplate.project_rowid == project_rowid, PromptTemplate.name == name
        )
    )
    if template is None:
        raise NotFound(f"no prompt named {name!r} in this project; GET /api/v1/prompts lists them")
    return template


def _labels_by_version(session: Session, template: PromptTemplate) -> dict[int, list[str]]:
    latest = session.scalar(
        select(PromptVersion.id)
        .where(PromptVersion.template_rowid == template.id)
        .order_by(PromptVersion.version.desc())
        .limit(1)
    )
    found: dict[int, list[str]] = {latest: [LATEST]} if latest is not None else {}
    rows = session.execute(
        select(PromptLabel.version_rowid, PromptLabel.label)
        .where(PromptLabel.template_rowid == template.id)
        .order_by(PromptLabel.label)
    )
    for version_rowid, label in rows:
        found.setdefault(version_rowid, []).append(label)
    return found


def _view(version: PromptVersion, name: str, labels: dict[int, list[str]]) -> PromptVersionView:
    return PromptVersionView(
        version_id=version.version_id,
        name=name,
        version=version.version,
        type=version.type,
        prompt=version.body,
        config=version.config,
        commit_message=version.commit_message,
        labels=labels.get(version.id, []),
        created_at=version.created_at,
    )


def _move_label(session: Session, template: PromptTemplate, label: str, version: PromptVersion) -> None:
    statement = upsert(
        session.get_bind().dialect.name,
        PromptLabel.__table__,  # type: ignore[arg-type]
        ["template_rowid", "label"],
        update=["version_rowid", "updated_at"],
    )
    session.execute(
        statement,
        {"template_rowid": template.id, "label": label, "version_rowid": version.id, "updated_at": utcnow()},
    )


def create_version(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    prompt_type: str,
    prompt: Any,
    *,
    config: dict[str, Any] | None = None,
    commit_message: str | None = None,
    labels: list[str] | None = None,
) -> PromptVersionView:
    """Version N+1 of template `name` (version 1 of a new template), with `labels` moved to it."""
    _checked_name(name)
    templates.check_body(prompt_type, prompt)
    templates.check_config(config)
    wanted = [_checked_label(label) for label in dict.fromkeys(labels or [])]
    # Numbers are given out under the template's lock; only two creators of a new prompt can
    # collide (on its name), and the second then finds the prompt on its one retry.
    for attempt in range(2):
        try:
            with sessions.begin() as session:
                template = session.scalar(
                    select(PromptTemplate).where(
                        PromptTemplate.project_rowid == project_rowid, PromptTemplate.name == name
                    )
                )
                if template is None:
                    template = PromptTemplate(project_rowid=project_rowid, name=name)
                    session.add(template)
                    session.flush()  # a concurrent creator of the same name fails here, and retries
                else:
                    # Holds the template's row lock (the database's write lock on SQLite) until
                    # commit: version numbers are given out one writer at a time.
                    session.execute(
                        update(PromptTemplate)
                        .where(PromptTemplate.id == template.id)
                        .values(updated_at=utcnow())
                    )
                newest = session.scalars(
                    select(PromptVersion)
                    .where(PromptVersion.template_rowid == template.id)
                    .order_by(PromptVersion.version.desc())
                    .limit(1)
                ).first()
                if newest is not None and newest.type != prompt_type:
                    raise Conflict(
                        f"prompt {name!r} is a {newest.type} prompt; its versions keep that type "
                        f"(create a prompt with another name for a {prompt_type} prompt)"
                    )
                version = PromptVersion(
                    version_id=secrets.token_hex(8),
                    template_rowid=template.id,
                    version=(newest.version if newest is not None else 0) + 1,
                    type=prompt_type,
                    body=prompt,
                    config=config or None,
                    commit_message=commit_message or None,
                )
                session.add(version)
                session.flush()
                for label in wanted:
                    _move_label(session, template, label, version)
                return _view(version, name, _labels_by_version(session, template))
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable: the second attempt returns or raises")


def list_prompts(sessions: sessionmaker[Session], project_rowid: int) -> list[PromptTemplateView]:
    with sessions() as session:
        newest = (
            select(PromptVersion.template_rowid, func.max(PromptVersion.version).label("version"))
            .join(PromptTemplate, PromptTemplate.id == PromptVersion.template_rowid)
            .where(PromptTemplate.project_rowid == project_rowid)
            .group_by(PromptVersion.template_rowid)
            .subquery()
        )
        rows = session.execute(
            select(PromptTemplate, PromptVersion)
            .join(newest, newest.c.template_rowid == PromptTemplate.id)
            .join(
                PromptVersion,
                (PromptVersion.template_rowid == PromptTemplate.id)
                & (PromptVersion.version == newest.c.version),
            )
            .where(PromptTemplate.project_rowid == project_rowid)
            .order_by(PromptTemplate.name)
        ).all()
        labels: dict[int, dict[str, int]] = {
            template.id: {LATEST: latest.version} for template, latest in rows
        }
        for template_rowid, label, version in session.execute(
            select(PromptLabel.template_rowid, PromptLabel.label, PromptVersion.version)
            .join(PromptVersion, PromptVersion.id == PromptLabel.version_rowid)
            .where(PromptLabel.template_rowid.in_(labels))
            .order_by(PromptLabel.label)
        ):
            labels[template_rowid][label] = version
        return [
            PromptTemplateView(
                template.name,
                latest.type,
                latest.version,
                labels[template.id],
                template.created_at,
                latest.created_at,
            )
            for template, latest in rows
        ]


def get_version(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
) -> PromptVersionView:
    """A version by number, or the one a label points at; the latest when neither is given."""
    if version is not None and label is not None:
        raise Unprocessable("ask for a version or a label, not both")
    with sessions() as session:
        template = _template(session, project_rowid, name)
        query = select(PromptVersion).where(PromptVersion.template_rowid == template.id)
        if version is not None:
            found = session.scalar(query.where(PromptVersion.version == version))
            missing = f"prompt {name!r} has no version {version}"
        elif label is not None and label != LATEST:
            found = session.scalar(
                query.join(PromptLabel, PromptLabel.version_rowid == PromptVersion.id).where(
                    PromptLabel.label == label
                )
            )
            missing = f"prompt {name!r} has no label {label!r}"
        else:
            found = session.scalars(query.order_by(PromptVersion.version.desc()).limit(1)).first()
            missing = f"prompt {name!r} has no version"
        if found is None:
            raise NotFound(missing)
        return _view(found, name, _labels_by_version(session, template))


def get_version_by_id(
    sessions: sessionmaker[Session], project_rowid: int, version_id: str
) -> PromptVersionView:
    with sessions() as session:
        row = session.execute(
            select(PromptVersion, PromptTemplate)
            .join(PromptTemplate, PromptTemplate.id == PromptVersion.template_rowid)
            .where(PromptVersion.version_id == version_id, PromptTemplate.project_rowid == project_rowid)
        ).first()
        if row is None:
            raise NotFound(f"no prompt version with id {version_id!r} in this project")
        version, template = row
        return _view(version, template.name, _labels_by_version(session, template))


def list_versions(sessions: sessionmaker[Session], project_rowid: int, name: str) -> list[PromptVersionView]:
    """Every version of a template, newest first."""
    with sessions() as session:
        template = _template(session, project_rowid, name)
        labels = _labels_by_version(session, template)
        versions = session.scalars(
            select(PromptVersion)
            .where(PromptVersion.template_rowid == template.id)
            .order_by(PromptVersion.version.desc())
        )
        return [_view(version, name, labels) for version in versions]


def set_label(
    sessions: sessionmaker[Session], project_rowid: int, name: str, label: str, version: int
) -> PromptVersionView:
    """Point `label` at `version` (moving it from wherever it was), in one atomic write."""
    _checked_label(label)
    with sessions.begin() as session:
        template = _template(session, project_rowid, name)
        target = session.scalar(
            select(PromptVersion).where(
                PromptVersion.template_rowid == template.id, PromptVersion.version == version
            )
        )
        if target is None:
            raise NotFound(f"prompt {name!r} has no version {version}")
        _move_label(session, template, label, target)
        return _view(target, name, _labels_by_version(session, template))


def remove_label(sessions: sessionmaker[Session], project_rowid: int, name: str, label: str) -> None:
    _checked_label(label)
    with sessions.begin() as session:
        template = _template(session, project_rowid, name)
        found = session.get(PromptLabel, (template.id, label))
        if found is None:
            raise NotFound(f"prompt {name!r} has no label {label!r}")
        session.delete(found)


def refuse_edit(name: str, version: int) -> None:
    """Versions are immutable: say so, and how to change a prompt instead."""
    raise Conflict(
        f"prompt versions are immutable: version {version} of {name!r} cannot be changed; create a new "
        "version (POST /api/v1/prompts with the same name) and move a label to it"
    )


def diff_versions(
    sessions: sessionmaker[Session], project_rowid: int, name: str, base: int, target: int
) -> dict[str, Any]:
    older = get_version(sessions, project_rowid, name, version=base)
    newer = get_version(sessions, project_rowid, name, version=target)
    return templates.diff((older.type, older.prompt, older.config), (newer.type, newer.prompt, newer.config))


@dataclass(frozen=True)
class PromptLink:
    """What a span's recorded prompt link resolves to in the project's prompts."""

    name: str | None  # the prompt (for an inline template: the prompt whose version matched it)
    version: int | str | None
    version_id: str | None  # the stored version it was rendered from, when linked
    reason: str | None  # why it is not linked, when it is not

    @property
    def linked(self) -> bool:
        return self.version_id is not None


def resolve_links(session: Session, project_rowid: int, spans: Iterable[SpanRecord]) -> dict[str, PromptLink]:
    """Span id -> its prompt link, for the spans that record one. A link names a prompt and a
    version number; a template recorded inline with no name (OpenInference) links to the
    stored text version with the same text (`import_span_template` stores it)."""
    recorded = {
        span.span_id: span.prompt_template for span in spans if isinstance(span.prompt_template, dict)
    }
    if not recorded:
        return {}
    names = {link["name"] for link in recorded.values() if isinstance(link.get("name"), str)}
    versions: dict[tuple[str, int], str] = {}
    known: set[str] = set()
    if names:
        rows = session.execute(
            select(PromptTemplate.name, PromptVersion.version, PromptVersion.version_id)
            .join(PromptVersion, PromptVersion.template_rowid == PromptTemplate.id)
            .where(PromptTemplate.project_rowid == project_rowid, PromptTemplate.name.in_(names))
        )
        for stored_name, stored_number, version_id in rows:
            known.add(stored_name)
            versions[(stored_name, stored_number)] = version_id
    inline = {
        link["template"]
        for link in recorded.values()
        if not link.get("name") and isinstance(link.get("template"), str)
    }
    matches = _inline_matches(session, project_rowid, inline) if inline else {}
    links = {}
    for span_id, link in recorded.items():
        name, number = link.get("name"), link_version(link.get("version"))
        if not isinstance(name, str) or not name:  # a template recorded inline, not by name
            template = link.get("template")
            if not isinstance(template, str):
                continue
            match = matches.get(template)
            links[span_id] = (
                PromptLink(*match, None)
                if match is not None
                else PromptLink(
                    None, number, None,
                    "the span recorded its template inline, and no prompt has a version with that text; "
                    "import it with POST /api/v1/prompts/import",
                )
            )  # fmt: skip
            continue
        if name not in known:
            reason = f"no prompt named {name!r} in this project"
        elif number is None:
            reason = "the span records no version number"
        elif not isinstance(number, int):
            reason = f"version {number!r} is not a number"
        elif (name, number) not in versions:
            reason = f"prompt {name!r} has no version {number}"
        else:
            links[span_id] = PromptLink(name, number, versions[(name, number)], None)
            continue
        links[span_id] = PromptLink(name, number, None, reason)
    return links


def _inline_matches(session: Session, project_rowid: int, texts: set[str]) -> dict[str, tuple[str, int, str]]:
    """Template text -> (prompt, version, version id) of the first stored text version with
    exactly that text (oldest prompt and version first, so the answer never changes)."""
    found: dict[str, tuple[str, int, str]] = {}
    rows = session.execute(
        select(PromptTemplate.name, PromptVersion.version, PromptVersion.version_id, PromptVersion.body)
        .join(PromptVersion, PromptVersion.template_rowid == PromptTemplate.id)
        .where(PromptTemplate.project_rowid == project_rowid, PromptVersion.type == "text")
        .order_by(PromptTemplate.id, PromptVersion.version)
    )
    for name, number, version_id, body in rows:
        if isinstance(body, str) and body in texts:
            found.setdefault(body, (name, number, version_id))
    return found


def import_span_template(
    sessions: sessionmaker[Session], project_rowid: int, name: str, span: SpanRecord, source: str
) -> PromptVersionView:
    """A template a span recorded inline (OpenInference's `llm.prompt_template.template`) as the
    next version of prompt `name`; the span, and every span with the same template, then links to it."""
    link = span.prompt_template if isinstance(span.prompt_template, dict) else {}
    template = link.get("template")
    if not isinstance(template, str) or not template:
        raise Unprocessable(f"span {span.span_id} recorded no template inline (llm.prompt_template.template)")
    try:
        stored = list_versions(sessions, project_rowid, name)
    except NotFound:
        stored = []  # a new prompt
    for version in stored:
        if version.type == "text" and version.prompt == template:
            return version  # already stored: spans with this text link to it
    return create_version(
        sessions, project_rowid, name, "text", template, commit_message=f"imported from {source}"
    )
