"""Every API error as ``{"error": {"code": ..., "message": ...}}``, its HTTP status chosen by one table of codes.

The codes are the ones the CLI and the audit log already use (``corrupt_image``, ``entry_not_found`` ...), so a
client sees the same name for a problem as an admin at the terminal. Errors the library raises are mapped here,
in one place; the routes only raise. A refusal of images adds ``problems``, one per image, and takes the status
its problems share (else 422); its code is the image's own when one image was refused, else ``images_rejected``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engines.errors import VigilError
from watchlists.errors import ImagesRejectedError

log = logging.getLogger(__name__)


class ApiError(VigilError):
    """A request the API refuses before the library is involved (auth, size, form); ``code`` says which."""

    code = "bad_request"


class UnauthorizedError(ApiError):
    """No bearer token, or one that is not (or no longer) in the tokens file."""

    code = "unauthorized"


class ForbiddenError(ApiError):
    """A valid token whose role may not do this (a viewer writing)."""

    code = "forbidden"


class RequestTooLargeError(ApiError):
    """The request body is over the limit (declared in ``Content-Length`` or counted while streaming)."""

    code = "request_too_large"


class InvalidRequestError(ApiError):
    """A field of the request is missing or malformed; the message names it."""

    code = "invalid_request"


STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "invalid_request": 400,
    "invalid_entry": 400,
    "ambiguous_entry_id": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "entry_not_found": 404,
    "image_not_found": 404,
    "not_found": 404,
    "keyframe_not_found": 404,
    "alert_not_found": 404,
    "camera_not_found": 404,
    "snapshot_not_found": 404,
    "unknown_not_found": 404,
    "crop_not_found": 404,
    "method_not_allowed": 405,
    "archive_disabled": 409,
    "adaptation_disabled": 409,
    "last_image": 409,
    "no_crops": 409,
    "request_too_large": 413,
    "image_too_large": 413,
    "unsupported_image_type": 415,
    "unsupported_media_type": 415,
    "store_error": 503,
    "busy": 503,
}
"""Codes with a status other than the defaults: 422 for an image or entry the watchlist refuses, 400 for other
usage errors (exit code 2), 500 for everything else."""

_UNPROCESSABLE = frozenset(
    {
        "image_rejected",
        "images_rejected",
        "duplicate_image",
        "corrupt_image",
        "too_many_pixels",
        "unreadable_file",
        "no_new_images",
        "negative_is_reference",
        "faces_not_available",
        "no_face_found",
        "multiple_faces",
        "face_too_small",
        "too_blurry",
        "bad_pose",
    }
)


def status_for(code: str, *, exit_code: int = 1) -> int:
    """The HTTP status of a Vigil error code."""
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    if code in _UNPROCESSABLE:
        return 422
    return 400 if exit_code == 2 else 500


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(exc: VigilError) -> JSONResponse:
    """The response for a Vigil error: its code, message and status (plus per-image problems when it has them)."""
    extra: dict[str, Any] = {}
    code, message = exc.code, exc.message
    status = status_for(code, exit_code=exc.exit_code)
    if isinstance(exc, ImagesRejectedError):
        extra["problems"] = [{"source": p.source, "code": p.code, "reason": p.reason} for p in exc.problems]
        statuses = {status_for(p.code) for p in exc.problems}
        status = statuses.pop() if len(statuses) == 1 else 422
        if len(exc.problems) == 1:  # one image refused: its own code (no_face_found ...) is the answer
            code, message = exc.problems[0].code, f"{exc.problems[0].source}: {exc.problems[0].reason}"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if retry_after := getattr(exc, "retry_after_s", None):
        headers = {"Retry-After": str(retry_after)}
    if status >= 500:
        log.error("API request failed: %s: %s", code, message)
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the app documents for the request's path (its OpenAPI paths: routers may be nested)."""
    methods: set[str] = set()
    for path, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)), request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the envelope: Vigil errors, FastAPI's validation errors, Starlette's HTTP errors
    (unknown path, wrong method, malformed multipart) and, last, anything unexpected (logged, never echoed)."""

    async def vigil_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VigilError)
        return error_response(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return error_response(InvalidRequestError(f"invalid request: {fields}"))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        body = error_body(code or "bad_request", str(exc.detail))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the methods of the first route on the path only
            headers = {"Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("API request failed unexpectedly", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal error; see the service log"), status_code=500)

    app.add_exception_handler(VigilError, vigil_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
