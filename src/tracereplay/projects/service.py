"""Projects and API keys: bootstrap at first start, create/list/revoke, and key resolution.

Keys are random 256-bit tokens; only their SHA-256 is stored (a slow hash adds nothing for
keys with this much entropy, and resolution sits on the ingestion hot path).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.config import Settings
from tracereplay.db.models import ApiKey, Project, ProjectMember, User, utcnow
from tracereplay.errors import Conflict, InvalidInput, NotFound, Unauthorized

KEY_PREFIX = "tr-"
DEFAULT_PROJECT = "default"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    project: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    info: KeyInfo
    key: str  # shown once, never stored


@dataclass(frozen=True)
class Bootstrap:
    project: str
    created_key: str | None  # set only on the start that created the project


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    created_at: datetime
    keys: int  # active (not revoked) API keys


def _key_info(key: ApiKey, project: str) -> KeyInfo:
    return KeyInfo(key.id, project, key.name, key.prefix, key.created_at, key.revoked_at)


def _project(session: Session, name: str | None) -> Project:
    """The project named `name`, or the first one created when `name` is None."""
    query = select(Project)
    query = query.where(Project.name == name) if name is not None else query.order_by(Project.id)
    project = session.scalar(query.limit(1))
    if project is None:
        known = ", ".join(session.scalars(select(Project.name).order_by(Project.name))) or "none"
        raise NotFound(f"project {name!r} does not exist (projects: {known})")
    return project


def find_project(sessions: sessionmaker[Session], name: str | None) -> Principal:
    """Who a command acts for: the project named `name`, or the first one created."""
    with sessions() as session:
        project = _project(session, name)
        return Principal(project.id, project.name)


def list_projects(sessions: sessionmaker[Session]) -> list[ProjectInfo]:
    with sessions() as session:
        active = (
            select(func.count())
            .where(ApiKey.project_rowid == Project.id, ApiKey.revoked_at.is_(None))
            .scalar_subquery()
        )
        rows = session.execute(select(Project.name, Project.created_at, active).order_by(Project.name))
        return [ProjectInfo(name, created_at, keys) for name, created_at, keys in rows]


def _add_key(session: Session, project: Project, name: str, key: str) -> ApiKey:
    if len(key) < 16:
        raise InvalidInput("API keys must be at least 16 characters long")
    row = ApiKey(project_rowid=project.id, name=name, prefix=key[:8], key_hash=hash_key(key))
    session.add(row)
    session.flush()
    return row


def bootstrap(sessions: sessionmaker[Session], settings: Settings) -> Bootstrap:
    """Create the first project and key on an empty database; later starts change nothing."""
    name = settings.init_project or DEFAULT_PROJECT
    with sessions.begin() as session:
        if session.scalar(select(Project.id).limit(1)) is not None:
            project = session.scalar(select(Project).where(Project.name == name))
            if project is not None and settings.init_api_key:
                exists = session.scalar(
                    select(ApiKey.id).where(ApiKey.key_hash == hash_key(settings.init_api_key))
                )
                if exists is None:
                    _add_key(session, project, "init", settings.init_api_key)
            return Bootstrap(name, None)
        project = Project(name=name)
        session.add(project)
        session.flush()
        key = settings.init_api_key or new_key()
        _add_key(session, project, "init", key)
    return Bootstrap(name, None if settings.init_api_key else key)


MAX_PROJECT_NAME = 200


PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def create_project(sessions: sessionmaker[Session], name: str, member: str | None = None) -> CreatedKey:
    """A new project and its first key (shown once: only its hash is stored); with `member`,
    that dashboard user may see it."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_PROJECT_NAME or not PROJECT_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid project name {name[:80]!r}: 1 to {MAX_PROJECT_NAME} letters, digits, _ . - "
            "(starting with a letter or digit), as it appears in the dashboard's addresses"
        )
    with sessions.begin() as session:
        if session.scalar(select(Project.id).where(Project.name == name)) is not None:
            raise Conflict(f"project {name!r} already exists; `tracereplay projects list` shows them")
        project = Project(name=name)
        session.add(project)
        session.flush()
        if member is not None:
            user = session.scalar(select(User.id).where(User.username == member))
            if user is None:
                raise NotFound(f"no user named {member!r}")
            session.add(ProjectMember(user_rowid=user, project_rowid=project.id))
        key = new_key()
        row = _add_key(session, project, "default", key)
        return CreatedKey(_key_info(row, name), key)


def create_key(sessions: sessionmaker[Session], project: str | None, name: str) -> CreatedKey:
    """A new key for `project` (the first project when None), shown once."""
    with sessions.begin() as session:
        key = new_key()
        found = _project(session, project)
        row = _add_key(session, found, name, key)
        return CreatedKey(_key_info(row, found.name), key)


def list_keys(sessions: sessionmaker[Session], project: str | None = None) -> list[KeyInfo]:
    with sessions() as session:
        query = select(ApiKey, Project.name).join(Project).order_by(ApiKey.id)
        if project is not None:
            query = query.where(Project.id == _project(session, project).id)
        return [_key_info(key, name) for key, name in session.execute(query)]


def revoke_key(sessions: sessionmaker[Session], key_id: int, project: str | None = None) -> KeyInfo:
    """Revoke a key (of `project`, when given); servers stop accepting it within their
    `KeyResolver`'s ttl."""
    with sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None or (project is not None and row.project_rowid != _project(session, project).id):
            raise NotFound(f"no API key with id {key_id}; `tracereplay keys list` shows them")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        owner = session.get_one(Project, row.project_rowid)
        return _key_info(row, owner.name)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    project_rowid: int
    project: str


class KeyResolver:
    """Maps a presented API key to its project, caching hits briefly.

    Ingestion resolves a key on every request; a short cache keeps that off the database
    while a revoked key stops working within `ttl` seconds.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 5.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str | None) -> Principal:
        if not key:
            raise Unauthorized(
                "missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`"
            )
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self._sessions() as session:
            row = session.execute(
                select(Project.id, Project.name)
                .join(ApiKey, ApiKey.project_rowid == Project.id)
                .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            ).first()
        if row is None:
            raise Unauthorized("invalid or revoked API key; create one with `tracereplay keys create`")
        principal = Principal(row[0], row[1])
        with self._lock:
            self._cache[digest] = (now + self._ttl, principal)
        return principal

    def forget(self) -> None:
        """Drop what is cached: a key revoked in this process stops working at once."""
        with self._lock:
            self._cache.clear()
