"""The REST API application: ``/api/v1`` routers, the error envelope, the body cap; OpenAPI at ``/docs``.

Example:
    >>> app = create_api(context)            # an ASGI app: serve it with ``ApiServer`` or test it with TestClient
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from streamer import __version__
from streamer.api.context import ApiContext
from streamer.api.errors import install_error_handlers
from streamer.api.limits import BodyLimitMiddleware
from streamer.api.routers import (
    adaptation,
    alerts,
    cameras,
    entry_state,
    health,
    images,
    match,
    references,
    search,
    ui,
    watchlist,
    whoami,
)

API_PREFIX = "/api/v1"


def create_api(context: ApiContext) -> FastAPI:
    """An API app serving ``context``: routers under ``/api/v1``, every error as JSON, bodies capped."""
    app = FastAPI(
        title="Vigil",
        version=__version__,
        description="Watchlist, alerts and cameras of a Vigil node. Authenticate with `Authorization: Bearer <token>`.",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.context = context
    api = APIRouter(prefix=API_PREFIX)
    for module in (
        health,
        whoami,
        watchlist,
        entry_state,
        references,
        images,
        alerts,
        cameras,
        match,
        search,
        adaptation,
    ):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(ui.router)  # the admins' web page at /ui/ (no token; it calls the API with the admin's)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=context.limits.max_request_bytes)
    return app
