"""The application factory: `create_app(settings)` builds the whole server from one Settings:
the OTLP receiver, the REST API and the dashboard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

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
from tracereplay.web.app import mount_dashboard

log = logging.getLogger(__name__)


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
    dashboard = mount_dashboard(app, context)
    install_error_handlers(app, pages=dashboard.answer_error)
    app.include_router(otlp_router(context))
    app.include_router(traces_router(context))
    app.include_router(replays_router(context))
    app.include_router(prices_router(context))
    app.include_router(prompts_router(context))
    app.include_router(evaluators_router(context))
    app.include_router(compare_router(context))

    return app
