"""Evaluators of a project: created, listed, changed and removed; views for the API and CLI.

An evaluator's configuration is versioned: a change writes a new version (kept, so a score
says which configuration gave it) and never edits an old one. Its type and configuration are
checked when it is created or changed, so a bad evaluator is refused with the reason instead
of failing on every trace later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Evaluator, EvaluatorConfig, utcnow
from tracereplay.errors import Conflict, NotFound, Unprocessable
from tracereplay.evals import custom, judge
from tracereplay.evals.builtin import BUILTIN, EvaluatorType

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,199}")
TARGETS = ("replays", "all")
FILTER_KEYS = ("name", "tags", "environment")
UNSET: Any = object()  # an argument not given (None may be a value: no filter)


MODEL_TYPES = {
    t.name: t
    for t in (
        EvaluatorType("llm_judge", "a judge model scores the trace with a rubric",
                      judge.check, judge.evaluate, needs_context=True, compares_when=judge.compares),
        EvaluatorType("python", "a function of yours, registered as a tracereplay.evaluators entry point",
                      custom.check, custom.evaluate),
    )
}  # fmt: skip


def evaluator_types() -> dict[str, EvaluatorType]:
    """Every evaluator type by name."""
    return {**BUILTIN, **MODEL_TYPES}


@dataclass(frozen=True)
class EvaluatorView:
    name: str
    type: str
    config: dict[str, Any]
    config_version: int
    enabled: bool
    target: str
    sampling_rate: float
    filter: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def _view(evaluator: Evaluator, config: dict[str, Any]) -> EvaluatorView:
    return EvaluatorView(
        name=evaluator.name,
        type=evaluator.type,
        config=config,
        config_version=evaluator.config_version,
        enabled=evaluator.enabled,
        target=evaluator.target,
        sampling_rate=evaluator.sampling_rate,
        filter=evaluator.filter,
        created_at=evaluator.created_at,
        updated_at=evaluator.updated_at,
    )


def _checked_type(name: str) -> EvaluatorType:
    types = evaluator_types()
    if name not in types:
        raise Unprocessable(
            f"unknown evaluator type {name[:100]!r}; the types are: {', '.join(sorted(types))}"
        )
    return types[name]


def _checked_config(evaluator_type: EvaluatorType, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise Unprocessable("config must be an object (`{}` when the type needs none)")
    evaluator_type.check(config)
    return config


def _checked_target(target: str, sampling_rate: float, filter_: dict[str, Any] | None) -> None:
    if target not in TARGETS:
        raise Unprocessable(
            'target must be "replays" (replayed traces and their originals) or "all" (new traces)'
        )
    if (
        isinstance(sampling_rate, bool)
        or not isinstance(sampling_rate, int | float)
        or not 0 < sampling_rate <= 1
    ):
        raise Unprocessable("sampling_rate is a fraction of traces: more than 0, at most 1")
    if filter_ is None:
        return
    if not isinstance(filter_, dict) or set(filter_) - set(FILTER_KEYS):
        raise Unprocessable(f"filter is an object with any of: {', '.join(FILTER_KEYS)}")
    for key in ("name", "environment"):
        if key in filter_ and not isinstance(filter_[key], str):
            raise Unprocessable(f"filter.{key} must be a string")
    if "tags" in filter_ and not (
        isinstance(filter_["tags"], list) and all(isinstance(tag, str) for tag in filter_["tags"])
    ):
        raise Unprocessable("filter.tags must be a list of tags (a trace needs all of them)")


def _checked_comparison(kind: EvaluatorType, config: dict[str, Any], target: str) -> None:
    if target == "all" and kind.compares(config):
        raise Unprocessable(
            f"{kind.name}, so configured, compares a replay with its original: live traffic has none; "
            'use target "replays" (or, for exact_match, give `expected`)'
        )


def _row(session: Session, project_rowid: int, name: str) -> Evaluator:
    evaluator = (
        session.scalar(
            select(Evaluator).where(Evaluator.project_rowid == project_rowid, Evaluator.name == name)
        )
        if NAME.fullmatch(name)
        else None
    )
    if evaluator is None:
        raise NotFound(f"no evaluator named {name[:80]!r} in this project; GET /api/v1/evaluators lists them")
    return evaluator


def _config(session: Session, evaluator: Evaluator) -> dict[str, Any]:
    stored = session.get(EvaluatorConfig, (evaluator.id, evaluator.config_version))
    return stored.config if stored is not None else {}


def create_evaluator(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    type_name: str,
    config: Any,
    *,
    enabled: bool = True,
    target: str = "replays",
    sampling_rate: float = 1.0,
    filter_: dict[str, Any] | None = None,
) -> EvaluatorView:
    """A new evaluator, configuration version 1; Conflict when the name is taken."""
    if not NAME.fullmatch(name):
        raise Unprocessable(
            f"invalid evaluator name {name[:80]!r}: 1 to 200 letters, digits, spaces, _ . - "
            "(starting with a letter or digit)"
        )
    kind = _checked_type(type_name)
    config = _checked_config(kind, config)
    _checked_target(target, sampling_rate, filter_)
    _checked_comparison(kind, config, target)
    now = utcnow()
    try:
        with sessions.begin() as session:
            evaluator = Evaluator(
                project_rowid=project_rowid, name=name, type=type_name, config_version=1,
                enabled=enabled, target=target, sampling_rate=float(sampling_rate), filter=filter_,
                created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(evaluator)
            session.flush()
            session.add(
                EvaluatorConfig(evaluator_rowid=evaluator.id, version=1, config=config, created_at=now)
            )
            session.flush()
            return _view(evaluator, config)
    except IntegrityError as exc:
        raise Conflict(
            f"an evaluator named {name!r} exists; change it with PATCH /api/v1/evaluators/{name}"
        ) from exc


def list_evaluators(sessions: sessionmaker[Session], project_rowid: int) -> list[EvaluatorView]:
    with sessions() as session:
        evaluators = session.scalars(
            select(Evaluator).where(Evaluator.project_rowid == project_rowid).order_by(Evaluator.name)
        ).all()
        return [_view(evaluator, _config(session, evaluator)) for evaluator in evaluators]


def get_evaluator(sessions: sessionmaker[Session], project_rowid: int, name: str) -> EvaluatorView:
    with sessions() as session:
        evaluator = _row(session, project_rowid, name)
        return _view(evaluator, _config(session, evaluator))


def config_history(
    sessions: sessionmaker[Session], project_rowid: int, name: str
) -> list[tuple[int, dict[str, Any], datetime]]:
    """Every configuration version of an evaluator, newest first."""
    with sessions() as session:
        evaluator = _row(session, project_rowid, name)
        versions = session.scalars(
            select(EvaluatorConfig)
            .where(EvaluatorConfig.evaluator_rowid == evaluator.id)
            .order_by(EvaluatorConfig.version.desc())
        )
        return [(version.version, version.config, version.created_at) for version in versions]


def update_evaluator(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    *,
    config: Any = UNSET,
    enabled: Any = UNSET,
    target: Any = UNSET,
    sampling_rate: Any = UNSET,
    filter_: Any = UNSET,
) -> EvaluatorView:
    """Change what is given; a different configuration becomes the next version. An evaluator
    switched to live traffic (target `all`, or enabled again) starts from the traces written
    from now on."""
    try:
        return _update(sessions, project_rowid, name, config, enabled, target, sampling_rate, filter_)
    except IntegrityError as exc:  # another change took the same configuration version first
        raise Conflict(f"evaluator {name!r} was changed meanwhile; read it again and retry") from exc


def _update(
    sessions: sessionmaker[Session],
    project_rowid: int,
    name: str,
    config: Any,
    enabled: Any,
    target: Any,
    sampling_rate: Any,
    filter_: Any,
) -> EvaluatorView:
    with sessions.begin() as session:
        evaluator = _row(session, project_rowid, name)
        current = _config(session, evaluator)
        new_target = evaluator.target if target is UNSET else target
        new_rate = evaluator.sampling_rate if sampling_rate is UNSET else sampling_rate
        new_filter = evaluator.filter if filter_ is UNSET else filter_
        _checked_target(new_target, new_rate, new_filter)
        if enabled is not UNSET and not isinstance(enabled, bool):
            raise Unprocessable("enabled must be true or false")
        now = utcnow()
        if config is not UNSET:
            config = _checked_config(_checked_type(evaluator.type), config)
            if config != current:
                evaluator.config_version += 1
                version = EvaluatorConfig(
                    evaluator_rowid=evaluator.id,
                    version=evaluator.config_version,
                    config=config,
                    created_at=now,
                )
                session.add(version)
                current = config
        _checked_comparison(_checked_type(evaluator.type), current, new_target)
        starts_on_traffic = new_target == "all" and (
            evaluator.target != "all" or (enabled is True and not evaluator.enabled)
        )
        if starts_on_traffic:  # not the backlog written while it was off
            evaluator.scanned_until, evaluator.scanned_rowid = now, None
        if enabled is not UNSET:
            evaluator.enabled = enabled
        evaluator.target, evaluator.sampling_rate, evaluator.filter = new_target, float(new_rate), new_filter
        evaluator.updated_at = now
        session.flush()
        return _view(evaluator, current)


def delete_evaluator(sessions: sessionmaker[Session], project_rowid: int, name: str) -> None:
    with sessions.begin() as session:
        evaluator = _row(session, project_rowid, name)
        session.execute(delete(Evaluator).where(Evaluator.id == evaluator.id))
