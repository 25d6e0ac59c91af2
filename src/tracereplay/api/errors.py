"""One place that turns errors into JSON responses: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracereplay.errors import TraceReplayError, Unprocessable

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{location}: {error.get('msg')}" if location else str(error.get("msg"))


# The dashboard's answer to an error on one of its pages (an HTML page), or None elsewhere.
PageErrors = Callable[[Request, Exception], Response | None]


def install_error_handlers(app: FastAPI, pages: PageErrors | None = None) -> None:
    """Errors answer JSON on the API and the OTLP receiver, an error page on dashboard pages."""

    def page(request: Request, exc: Exception) -> Response | None:
        return pages(request, exc) if pages is not None else None

    @app.exception_handler(TraceReplayError)
    async def _domain(request: Request, exc: TraceReplayError) -> Response:
        answer = page(request, exc)
        return answer or error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        message = "; ".join(_describe(error) for error in errors[:5])
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        answer = page(request, Unprocessable(message, details=details))
        return answer or error_response(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        answer = page(request, TraceReplayError(str(exc.detail)))
        if answer is not None:
            answer.status_code = exc.status_code
            return answer
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        answer = page(request, exc)
        return answer or error_response(
            500, "internal", "internal server error; the server log has the details"
        )
