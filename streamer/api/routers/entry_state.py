"""``PATCH /watchlist/{id}``: tune an entry (``admin``): label, notes, threshold, cameras, enabled; images are kept.

One request is one call of ``WatchlistStore.update_entry``: one transaction and one ``entry.updated`` audit row
holding each changed field's old and new value, the same write as ``vigil watchlist update``, so switching an entry
off from the page and from the terminal leave the same record. A value the store refuses (an empty label, a
threshold outside [-1, 1], a camera name with a slash) comes back as ``invalid_entry`` with the store's message and
nothing written. The body is read after the token is checked, like every upload, and is capped at a few kilobytes.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Admin, Context, actor
from streamer.api.errors import InvalidRequestError, RequestTooLargeError
from streamer.api.routers.watchlist import ERRORS, entry_response
from streamer.api.schemas import EntryResponse, EntryUpdateRequest
from streamer.api.uploads import UnsupportedMediaTypeError

router = APIRouter(prefix="/watchlist", tags=["watchlist"])

MAX_BODY_BYTES = 4096
_FIELDS = ", ".join(EntryUpdateRequest.model_fields)
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": EntryUpdateRequest.model_json_schema(),
            "examples": {
                "tune": {
                    "summary": "stricter, two cameras",
                    "value": {"threshold": 0.82, "cameras": ["lobby", "gate"]},
                },
                "default": {"summary": "back to the kind's threshold", "value": {"threshold": None}},
                "off": {"summary": "switch off, keep the images", "value": {"enabled": False}},
            },
        }
    },
}


@router.patch(
    "/{entry_id}",
    response_model=EntryResponse,
    responses=ERRORS,
    openapi_extra={"requestBody": _BODY},
    summary="Tune an entry: label, notes, threshold, cameras, enabled",
)
async def update_entry(entry_id: str, request: Request, context: Context, token: Admin) -> EntryResponse:
    """Change the fields sent, keep the rest: ``threshold: null`` returns to the kind's default and ``cameras: []``
    to every camera. One audited transaction; a request that changes nothing writes nothing. The entry as it is now
    comes back."""
    update = await _read_update(request)
    context.check_cameras(update.changes().get("cameras") or [])
    write = partial(context.store.update_entry, entry_id, actor=actor(token), **update.changes())
    return entry_response(context, await run_in_threadpool(write))


async def _read_update(request: Request) -> EntryUpdateRequest:
    """The JSON body as an ``EntryUpdateRequest``; 415 when not JSON, 413 over the cap, 400 naming a bad field."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError(f'send application/json such as {{"threshold": 0.8}}, not {media_type!r}')
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RequestTooLargeError(f"an entry update is at most {MAX_BODY_BYTES} bytes of JSON")
    try:
        return EntryUpdateRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequestError(f"invalid entry update: {'; '.join(map(_problem, exc.errors()[:5]))}") from None


def _problem(error: ErrorDetails) -> str:
    """One validation problem, naming its field (the model's own checks name it in their message)."""
    field = ".".join(map(str, error["loc"])) or "body"
    if error["type"] == "extra_forbidden":
        return f"{field}: cannot be changed (an update takes {_FIELDS})"
    if error["type"] == "value_error" and not error["loc"]:
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{field}: {error['msg']}"
