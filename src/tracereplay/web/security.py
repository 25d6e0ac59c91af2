"""Who is looking at the dashboard, and whether a form really came from it.

- **Sign-in.** Bound to a loopback address, the dashboard opens without sign-in and shows every
  project (only this machine can reach it). Bound to any other address, or with
  `TRACEREPLAY_DASHBOARD_AUTH=always`, it requires a user created with `tracereplay users
  create`, and each user sees the projects they belong to. The session lives in Starlette's
  signed session cookie (HttpOnly, SameSite=Lax, Secure when `TRACEREPLAY_COOKIE_SECURE`).
- **CSRF.** Every state-changing request carries a per-session token, in a form field or the
  `X-CSRF-Token` header that htmx sends, compared in constant time with the session's. A form
  posted from another site arrives without the session (SameSite) and so without a token, and
  is refused, on a loopback bind too: a page on the internet cannot make this machine's browser
  start replays. The two maintained libraries looked at do not fit: `asgi-csrf` lets requests
  without cookies through, which is exactly the forged cross-site post on a loopback bind, and
  `fastapi-csrf-protect` parses form bodies by string replacement.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from tracereplay.config import Settings
from tracereplay.errors import Forbidden

SESSION_USER = "user"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sign_in_required(settings: Settings) -> bool:
    return settings.dashboard_auth == "always" or not is_loopback(settings.host)


def session_secret(settings: Settings) -> str:
    """`TRACEREPLAY_SECRET_KEY`, else a key made once and kept in the home directory (mode 0600):
    sessions survive restarts. Servers behind one address share it through the setting."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.home) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def csrf_token(request: Request) -> str:
    """This session's token, made on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get(SESSION_CSRF)
    sent = submitted or request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden(
            "this form was not sent by a page of this dashboard (missing or stale CSRF token); "
            "reload the page and submit it again"
        )


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a signed-in user, or None on an open (loopback) dashboard."""

    username: str | None
    projects: list[str]  # the projects they may see, by name

    def may_see(self, project: str) -> bool:
        return project in self.projects
