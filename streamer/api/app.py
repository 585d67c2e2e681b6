"""The REST API application: ``/api/v1`` routers, the error envelope, the body cap; OpenAPI at ``/api/v1/openapi.json``.

Example:
    >>> app = create_api(context)            # an ASGI app: serve it with ``ApiServer`` or test it with TestClient
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from streamer import __version__
from streamer.api.context import ApiContext
from streamer.api.errors import install_error_handlers
from streamer.api.limits import BodyLimitMiddleware
from streamer.api.live_events import LiveEvents
from streamer.api.routers import (
    adaptation,
    alerts,
    cameras,
    entry_state,
    events,
    health,
    images,
    match,
    references,
    search,
    ui,
    unknown,
    watchlist,
    whoami,
)

API_PREFIX = "/api/v1"


def create_api(context: ApiContext, *, docs: bool = False) -> FastAPI:
    """An API app serving ``context``: routers under ``/api/v1``, every error as JSON, bodies capped.

    Args:
        docs: serve the interactive docs at ``/docs``. Off by default: swagger-ui comes from a CDN, and ``/ui/``
            keeps an admin's token on the same origin. ``/api/v1/openapi.json`` is always served.
    """
    app = FastAPI(
        title="Vigil",
        version=__version__,
        description="Watchlist, alerts and cameras of a Vigil node. Authenticate with `Authorization: Bearer <token>`.",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.context = context
    app.state.live_events = LiveEvents(context.outbox, context.acks, context.camera_statuses)
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
        events,
        match,
        search,
        adaptation,
        unknown,
    ):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(ui.router)  # the admins' web page at /ui/ (no token; it calls the API with the admin's)
    install_error_handlers(app)
    app.openapi = lambda: _openapi_as_served(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, max_bytes=context.limits.max_request_bytes)
    return app


def _openapi_as_served(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, told the truth about errors: validation errors are 400 in the error envelope, not 422, and
    every route that takes a token says it may answer 401."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if operation.get("security"):
                    responses.setdefault("401", {"description": "No token, or an unknown one", **_ENVELOPE})
                validation = responses.get("422", {}).get("content", {}).get("application/json", {})
                if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    del responses["422"]
                    responses.setdefault("400", {"description": "Invalid request", **_ENVELOPE})
        schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema


_ENVELOPE = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
