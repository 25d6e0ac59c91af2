"""The application factory: `create_app(settings)` builds the whole server from one Settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tracereplay import __version__
from tracereplay.api.compare import compare_router
from tracereplay.api.errors import install_error_handlers
from tracereplay.api.evaluators import evaluators_router
from tracereplay.api.otlp import otlp_router
from tracereplay.api.prices import prices_router
from tracereplay.api.prompts import prompts_router
from tracereplay.api.replays import replays_router
from tracereplay.api.traces import traces_router
from tracereplay.config import Settings
from tracereplay.context import AppContext

log = logging.getLogger(__name__)

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tracereplay</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>tracereplay {version}</h1>
<p>The server is running.</p>
<ul>
<li>OTLP/HTTP endpoint: <code>{base}</code> (set <code>OTEL_EXPORTER_OTLP_ENDPOINT</code> to it
and send your API key as <code>Authorization: Bearer &lt;key&gt;</code>)</li>
<li>REST API: <a href="/docs">/docs</a> (OpenAPI)</li>
<li>CLI: <code>tracereplay traces list</code></li>
</ul>
</body></html>"""


def create_app(settings: Settings, *, run_worker: bool = False, ctx: AppContext | None = None) -> FastAPI:
    """The ASGI app. With `run_worker`, job consumer threads run inside the server process."""
    context = ctx or AppContext.open(settings)
    context.bootstrap()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        context.ingest.start()
        consumer = context.queue.consumer(embedded=True) if run_worker else None
        if consumer is not None:
            consumer.start()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)
            context.close()

    app = FastAPI(
        title="tracereplay",
        version=__version__,
        summary="LLM observability with whole-trace replay",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(otlp_router(context))
    app.include_router(traces_router(context))
    app.include_router(replays_router(context))
    app.include_router(prices_router(context))
    app.include_router(prompts_router(context))
    app.include_router(evaluators_router(context))
    app.include_router(compare_router(context))

    @app.get("/", include_in_schema=False)
    def landing() -> HTMLResponse:
        base = f"http://{settings.host}:{settings.port}"
        return HTMLResponse(LANDING.format(version=__version__, base=base))

    return app
