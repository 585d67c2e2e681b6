"""``/watchlist/{id}/images`` and ``/watchlist/{id}/negatives``: more references, or "not this" examples, for an
entry (``admin``). Images already stored are reported in ``duplicates`` and skipped; a request whose images are
all known succeeds and stores nothing. The entry is looked up before the body is read."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Admin, Context, actor
from streamer.api.routers.watchlist import ERRORS
from streamer.api.schemas import EnrollResponse
from streamer.api.uploads import multipart_openapi, read_upload
from watchlists.enroll import Enroller, EnrollReport

router = APIRouter(prefix="/watchlist", tags=["watchlist"])


@router.post(
    "/{entry_id}/images",
    response_model=EnrollResponse,
    responses=ERRORS,
    openapi_extra=multipart_openapi("images", many=True),
)
async def add_images(entry_id: str, request: Request, context: Context, token: Admin) -> EnrollResponse:
    """Add reference images to an entry."""
    return await _add_uploaded(entry_id, request, context, token, Enroller.add_images)


@router.post(
    "/{entry_id}/negatives",
    response_model=EnrollResponse,
    responses=ERRORS,
    openapi_extra=multipart_openapi("images", many=True),
)
async def add_negatives(entry_id: str, request: Request, context: Context, token: Admin) -> EnrollResponse:
    """Add negative examples: an image closer to one of them than to the entry's references will not match it."""
    return await _add_uploaded(entry_id, request, context, token, Enroller.add_negatives)


async def _add_uploaded(
    entry_id: str, request: Request, context: Context, token: Admin, add: Callable[..., EnrollReport]
) -> EnrollResponse:
    """Look the entry up, then read the upload and run ``add`` (an ``Enroller`` method) off the event loop."""
    entry = context.store.get_entry(entry_id)
    embedder = context.embedders.for_kind(entry.kind)
    form = await read_upload(request, context.limits, file_field="images", budget=context.decode_budget)
    enroller = Enroller(context.store, embedder, show_progress=False)
    report = await run_in_threadpool(add, enroller, entry.id, form.images, actor=actor(token))
    return EnrollResponse.from_report(report, context.default_thresholds[entry.kind])
