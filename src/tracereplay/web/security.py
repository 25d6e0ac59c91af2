"""Who is looking at the dashboard, and whether a form really came from it.

- **Sign-in.** Bound to a loopback address, the dashboard opens without sign-in and shows every
  project (only this machine can reach it), to requests addressed to a loopback name only
  (`check_local_host`: no DNS rebinding). Bound to any other address, or with
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
from tracereplay.errors import Forbidden, StartupError

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


def check_local_host(request: Request) -> None:
    """An open (loopback) dashboard answers only to a loopback name in `Host`: a page on the
    internet whose name an attacker re-points at 127.0.0.1 (DNS rebinding) would otherwise be
    same-origin with it, read its pages and post its forms."""
    host = request.headers.get("host", "")
    name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    if not is_loopback(name):
        raise Forbidden(
            f"this dashboard has no sign-in and answers only to localhost, not {host[:100]!r}; "
            "behind a proxy or another name, set TRACEREPLAY_DASHBOARD_AUTH=always and create users"
        )


MIN_SECRET = 32


def session_secret(settings: Settings) -> str:
    """`TRACEREPLAY_SECRET_KEY`, else a key made once and kept in the home directory (mode 0600):
    sessions survive restarts. Servers behind one address share it through the setting. A
    short key is refused: anyone could sign a session with it."""
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
        if len(secret) < MIN_SECRET:
            raise StartupError(
                f"TRACEREPLAY_SECRET_KEY is {len(secret)} characters long; give it at least "
                f"{MIN_SECRET} random ones (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return secret
    path = Path(settings.home) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: a reader never sees a
        # half-written key, and of two servers starting at once the second takes the first's.
        draft = path.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET:
        raise StartupError(f"{path} holds no usable key (under {MIN_SECRET} characters); delete it")
    return secret


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
    if (
        not isinstance(expected, str)
        or not sent
        or not secrets.compare_digest(expected.encode(), sent.encode())
    ):
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
