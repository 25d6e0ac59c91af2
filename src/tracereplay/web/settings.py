"""The settings page: projects, this project's API keys (create: shown once; revoke), the
providers (configured or not, never a key) and model prices with the project's overrides."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from tracereplay.errors import TraceReplayError, Unprocessable
from tracereplay.pricing.overrides import delete_price_override, list_price_overrides, set_price_override
from tracereplay.projects import service as projects
from tracereplay.projects.service import Principal
from tracereplay.providers.catalog import model_catalog
from tracereplay.web.app import Pages, form_fields


def _price(form: dict[str, str], name: str) -> float:
    try:
        return float(form.get(name, ""))
    except ValueError as exc:
        raise Unprocessable(f"the {name} price is a number of US $ per million tokens") from exc


def add_routes(router: APIRouter, pages: Pages) -> None:
    ctx = pages.ctx
    Project = Annotated[Principal, Depends(pages.principal)]

    def page(request: Request, principal: Principal, **extra: Any) -> Response:
        viewer = pages.viewer(request)
        book = ctx.prices.book(principal.project_rowid)
        status = extra.pop("status", 200)
        return pages.render(request, "settings.html", {
            "project": principal.project, "section": "settings",
            "projects": [p for p in projects.list_projects(ctx.sessions) if viewer.may_see(p.name)],
            "keys": projects.list_keys(ctx.sessions, principal.project),
            "providers": ctx.providers.statuses(),
            "catalog": model_catalog(ctx.providers, book),
            "overrides": list_price_overrides(ctx.sessions, principal.project_rowid),
            "created_key": None, "error": None, "error_in": None, **extra,
        }, status=status)  # fmt: skip

    def refused(request: Request, principal: Principal, where: str, exc: TraceReplayError) -> Response:
        if exc.status >= 500:
            raise exc
        return page(request, principal, error=exc.message, error_in=where, status=exc.status)

    @router.get("/p/{project}/settings")
    def settings_page(request: Request, principal: Project) -> Response:
        return page(request, principal)

    @router.post("/p/{project}/settings/projects")
    async def project_create(request: Request, principal: Project) -> Response:
        form = await form_fields(request)
        member = pages.viewer(request).username  # a signed-in user sees what they create
        try:
            created = projects.create_project(ctx.sessions, form.get("name", "").strip(), member)
        except TraceReplayError as exc:
            return refused(request, principal, "projects", exc)
        return page(request, principal, created_key=created)

    @router.post("/p/{project}/settings/keys")
    async def key_create(request: Request, principal: Project) -> Response:
        form = await form_fields(request)
        created = projects.create_key(
            ctx.sessions, principal.project, form.get("name", "").strip() or "dashboard"
        )
        return page(request, principal, created_key=created)

    @router.post("/p/{project}/settings/keys/{key_id}/revoke")
    async def key_revoke(request: Request, principal: Project, key_id: int) -> Response:
        await form_fields(request)
        projects.revoke_key(ctx.sessions, key_id, principal.project)
        ctx.keys.forget()  # at once here; other servers stop taking it within their cache's 5 s
        return RedirectResponse(f"/p/{principal.project}/settings#keys", status_code=303)

    @router.post("/p/{project}/settings/prices")
    async def price_set(request: Request, principal: Project) -> Response:
        form = await form_fields(request)
        try:
            prices = _price(form, "input"), _price(form, "output")
            pattern = form.get("pattern", "").strip()
            set_price_override(ctx.sessions, ctx.prices, principal.project_rowid, pattern, *prices)
        except TraceReplayError as exc:
            return refused(request, principal, "prices", exc)
        return RedirectResponse(f"/p/{principal.project}/settings#prices", status_code=303)

    @router.post("/p/{project}/settings/prices/{override_id}/delete")
    async def price_delete(request: Request, principal: Project, override_id: int) -> Response:
        await form_fields(request)
        delete_price_override(ctx.sessions, ctx.prices, principal.project_rowid, override_id)
        return RedirectResponse(f"/p/{principal.project}/settings#prices", status_code=303)
