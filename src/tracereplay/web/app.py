"""The dashboard mounted on the server's app: sessions, static files, sign-in, the page routes,
and the one place that renders a template (with who is looking, the project and the CSRF token).

Every page lives under `/p/{project}/…`; a project the viewer may not see answers 404 as if it
did not exist. Views call the same service functions as the API and the CLI, and never SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import markupsafe
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.templating import Jinja2Templates

from tracereplay import __version__
from tracereplay.context import AppContext
from tracereplay.errors import NotFound, TraceReplayError, Unauthorized
from tracereplay.projects.service import Principal, find_project
from tracereplay.projects.users import SignedIn, authenticate, end_sessions, visible_projects
from tracereplay.web.format import FILTERS
from tracereplay.web.security import (
    CSRF_FIELD,
    SESSION_USER,
    Viewer,
    check_csrf,
    check_local_host,
    csrf_token,
    session_secret,
    sign_in_required,
)

HERE = Path(__file__).parent
SESSION_DAYS = 14


class SignInRequired(Unauthorized):
    """A page was asked for without a signed-in user where sign-in is required: answered with
    a redirect to the sign-in page."""

    def __init__(self) -> None:
        super().__init__("sign in to see this page")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything a trace holds is text, never markup
        trim_blocks=True,
        lstrip_blocks=True,
    )  # the default Undefined: recorded messages have optional keys, a missing one shows nothing
    environment.filters.update(FILTERS)
    return environment


class Pages:
    """What every view needs: the context, templates, who is looking and their project."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(env=_environment())
        self.sign_in = sign_in_required(ctx.settings)

    def viewer(self, request: Request) -> Viewer:
        if not self.sign_in:
            check_local_host(request)
            return Viewer(None, visible_projects(self.ctx.sessions, None) or [])
        user = request.session.get(SESSION_USER)
        if not (isinstance(user, list) and len(user) == 2 and all(isinstance(part, str) for part in user)):
            raise SignInRequired()
        signed_in = SignedIn(*user)
        projects = visible_projects(self.ctx.sessions, signed_in)
        if projects is None:  # signed out elsewhere, or the user was deleted
            request.session.clear()
            raise SignInRequired()
        return Viewer(signed_in.username, projects)

    def principal(self, request: Request, project: str) -> Principal:
        if not self.viewer(request).may_see(project):
            raise NotFound(f"project {project!r} does not exist or is not yours")
        return find_project(self.ctx.sessions, project)

    def render(
        self, request: Request, template: str, context: dict[str, Any], *, status: int = 200
    ) -> HTMLResponse:
        viewer = self.viewer(request)
        base = {
            "viewer": viewer,
            "sign_in": self.sign_in,
            "project": context.get("project"),
            "csrf_token": csrf_token(request),
            "csrf_field": CSRF_FIELD,
            "version": __version__,
        }
        return self.templates.TemplateResponse(request, template, base | context, status_code=status)

    def answer_error(self, request: Request, error: Exception) -> Response | None:
        """The dashboard's answer to an error on one of its pages; None off the dashboard."""
        if request.url.path.startswith(("/api/", "/v1/", "/docs", "/openapi")):
            return None
        if isinstance(error, SignInRequired):
            return _to_sign_in(request)
        if isinstance(error, TraceReplayError):
            return self.error_page(request, error.status, error.message)
        return self.error_page(request, 500, "internal server error; the server log has the details")

    def error_page(self, request: Request, status: int, message: str) -> Response:
        if htmx(request):
            return HTMLResponse(f'<p class="notice error" role="alert">{_escape(message)}</p>', status)
        context = {"status": status, "message": message}
        try:
            return self.render(request, "error.html", context, status=status)
        except SignInRequired:
            return _to_sign_in(request)
        except TraceReplayError:  # who is looking is itself refused (a foreign Host): a bare page
            bare = {"viewer": Viewer(None, []), "project": None, "csrf_token": "", "csrf_field": CSRF_FIELD}
            return self.templates.TemplateResponse(request, "error.html", bare | context, status_code=status)


def htmx(request: Request) -> bool:
    """Whether htmx asked for the page (it swaps in a fragment rather than a whole page)."""
    return request.headers.get("hx-request") == "true"


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's text fields, once its CSRF token is checked (403 otherwise)."""
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    check_csrf(request, form.get(CSRF_FIELD))
    return form


def _escape(text: str) -> str:
    return str(markupsafe.escape(text))


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an absolute URL another site could be reached through."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def mount_dashboard(app: FastAPI, ctx: AppContext) -> Pages:
    """Add the dashboard to the server's app (called by `create_app`, which sends errors on
    dashboard pages to `Pages.answer_error`)."""
    from tracereplay.web import compare, evaluators, prompts, replays, settings, traces

    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(ctx.settings),
        session_cookie="tracereplay_session",
        max_age=SESSION_DAYS * 86400,
        same_site="lax",
        https_only=ctx.settings.cookie_secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages = Pages(ctx)
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def home(request: Request) -> Response:
        viewer = pages.viewer(request)
        if not viewer.projects:
            return pages.render(request, "error.html", {"status": 404, "message": (
                "you belong to no project yet; ask an administrator to add you "
                "(tracereplay users create … --project NAME)")}, status=404)  # fmt: skip
        return RedirectResponse(f"/p/{quote(viewer.projects[0])}/traces", status_code=303)

    @router.get("/login")
    def login_page(request: Request, next: str | None = None) -> Response:
        if not pages.sign_in:
            return RedirectResponse(_safe_next(next), status_code=303)
        return login_form(request, next, None)

    def login_form(request: Request, next: str | None, error: str | None, status: int = 200) -> Response:
        context = {"next": _safe_next(next), "error": error, "csrf_token": csrf_token(request),
                   "csrf_field": CSRF_FIELD, "version": __version__}  # fmt: skip
        return pages.templates.TemplateResponse(request, "login.html", context, status_code=status)

    @router.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf_token_: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
        next: Annotated[str | None, Form()] = None,
    ) -> Response:
        check_csrf(request, csrf_token_)  # no login CSRF: a site cannot sign you in as itself
        user = authenticate(ctx.sessions, username, password)
        if user is None:
            return login_form(request, next, "wrong username or password", 401)
        request.session.clear()  # a new session on sign-in: no fixation
        request.session[SESSION_USER] = [user.username, user.nonce]
        return RedirectResponse(_safe_next(next), status_code=303)

    @router.post("/logout")
    def logout(
        request: Request, csrf_token_: Annotated[str | None, Form(alias=CSRF_FIELD)] = None
    ) -> Response:
        check_csrf(request, csrf_token_)
        user = request.session.get(SESSION_USER)
        if isinstance(user, list) and user and isinstance(user[0], str):
            end_sessions(ctx.sessions, user[0])  # this cookie and every copy of it
        request.session.clear()
        return RedirectResponse("/login" if pages.sign_in else "/", status_code=303)

    @router.get("/switch")
    def switch(request: Request, project: str) -> Response:
        pages.principal(request, project)  # 404 for a project the viewer may not see
        return RedirectResponse(f"/p/{quote(project)}/traces", status_code=303)

    traces.add_routes(router, pages)
    replays.add_routes(router, pages)
    compare.add_routes(router, pages)
    prompts.add_routes(router, pages)
    evaluators.add_routes(router, pages)
    settings.add_routes(router, pages)
    app.include_router(router)
    return pages
