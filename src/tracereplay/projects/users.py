"""Dashboard users: created from the command line, passwords hashed with Argon2 (`pwdlib`),
each a member of the projects they may see. A user's session cookies carry their session
nonce: signing out draws a new one, which ends every session of that user, and a user deleted
and created again under the same name gets a new one."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from pwdlib import PasswordHash
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import Project, ProjectMember, User
from tracereplay.errors import Conflict, InvalidInput, NotFound

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
MIN_PASSWORD = 10
_hasher = PasswordHash.recommended()
# Verifying an unknown user's password against this keeps a wrong name as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


@dataclass(frozen=True)
class UserInfo:
    username: str
    projects: list[str]
    created_at: datetime


def _projects(session: Session, names: list[str]) -> list[Project]:
    found = {p.name: p for p in session.scalars(select(Project).where(Project.name.in_(names)))}
    missing = [name for name in names if name not in found]
    if missing:
        known = ", ".join(session.scalars(select(Project.name).order_by(Project.name))) or "none"
        raise NotFound(f"no project named {', '.join(map(repr, missing))} (projects: {known})")
    return [found[name] for name in names]


def create_user(
    sessions: sessionmaker[Session], username: str, password: str, projects: list[str]
) -> UserInfo:
    if not USERNAME.match(username):
        raise InvalidInput(
            "a username is 1 to 100 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    if not projects:
        raise InvalidInput("give the user at least one project (--project NAME)")
    with sessions.begin() as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"user {username!r} already exists; delete it first to recreate it")
        members = _projects(session, projects)
        user = User(
            username=username, password_hash=_hasher.hash(password), session_nonce=secrets.token_hex(16)
        )
        session.add(user)
        session.flush()
        session.add_all(ProjectMember(user_rowid=user.id, project_rowid=p.id) for p in members)
        return UserInfo(username, [p.name for p in members], user.created_at)


def list_users(sessions: sessionmaker[Session]) -> list[UserInfo]:
    with sessions() as session:
        users = list(session.scalars(select(User).order_by(User.username)))
        return [UserInfo(user.username, _member_of(session, user.id), user.created_at) for user in users]


def delete_user(sessions: sessionmaker[Session], username: str) -> None:
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r} (tracereplay users list shows them)")
        session.execute(delete(ProjectMember).where(ProjectMember.user_rowid == user.id))
        session.delete(user)


def add_member(sessions: sessionmaker[Session], username: str, project: str) -> None:
    """`username` may see `project` from now on (kept when already so)."""
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r} (tracereplay users list shows them)")
        (found,) = _projects(session, [project])
        if session.get(ProjectMember, (user.id, found.id)) is None:
            session.add(ProjectMember(user_rowid=user.id, project_rowid=found.id))


def _member_of(session: Session, user_rowid: int) -> list[str]:
    return list(
        session.scalars(
            select(Project.name)
            .join(ProjectMember, ProjectMember.project_rowid == Project.id)
            .where(ProjectMember.user_rowid == user_rowid)
            .order_by(Project.name)
        )
    )


@dataclass(frozen=True)
class SignedIn:
    """What a session cookie holds of its user."""

    username: str
    nonce: str


def authenticate(sessions: sessionmaker[Session], username: str, password: str) -> SignedIn | None:
    """The user when the password is right, else None (the same time either way)."""
    with sessions.begin() as session:
        user = None
        if USERNAME.match(username):
            user = session.scalar(select(User).where(User.username == username))
        if user is None:
            _hasher.verify(password, _DUMMY_HASH)
            return None
        valid, rehashed = _hasher.verify_and_update(password, user.password_hash)
        if not valid:
            return None
        if rehashed is not None:  # the recommended parameters moved on since it was hashed
            user.password_hash = rehashed
        return SignedIn(user.username, user.session_nonce)


def end_sessions(sessions: sessionmaker[Session], username: str) -> None:
    """Every session of the user ends (a new nonce)."""
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            user.session_nonce = secrets.token_hex(16)


def visible_projects(sessions: sessionmaker[Session], signed_in: SignedIn | None) -> list[str] | None:
    """The projects a signed-in user belongs to, or None when their session has ended (signed
    out, or the user deleted); every project for nobody in particular (an open, loopback
    dashboard)."""
    with sessions() as session:
        if signed_in is None:
            return list(session.scalars(select(Project.name).order_by(Project.id)))
        user_rowid = session.scalar(
            select(User.id).where(User.username == signed_in.username, User.session_nonce == signed_in.nonce)
        )
        return None if user_rowid is None else _member_of(session, user_rowid)
