"""``POST /search``: past keyframes that look like an image (``viewer``); ``GET /archive/{id}/thumbnail``.

A multipart form with one ``image`` (checked like ``POST /match``: sniffed, size and pixels capped) and, in the form
or the query string, ``camera``, ``since``, ``until`` (ISO 8601) and ``top_k``. The image is embedded whole by the
pipeline's scene model and compared with the archived keyframes of that model. Nothing is written. With the archive
off (``archive.enabled: false``) both routes answer 409 ``archive_disabled``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Context, Viewer
from streamer.api.context import ApiContext
from streamer.api.errors import InvalidRequestError
from streamer.api.routers.watchlist import ERRORS
from streamer.api.uploads import UploadForm, multipart_openapi, read_upload
from streamer.archive.errors import ArchiveError
from streamer.archive.keyframes import ArchivedKeyframe, KeyframeArchive
from streamer.archive.times import parse_time
from watchlists.images import decode_image

router = APIRouter(tags=["search"])
DEFAULT_TOP_K = 20
_FIELDS = {
    "camera": "only this camera's keyframes",
    "since": "only keyframes from this time on (ISO 8601, UTC unless it says)",
    "until": "only keyframes up to this time (ISO 8601)",
    "top_k": f"at most this many keyframes (1-100, default {DEFAULT_TOP_K})",
}
_ERRORS = {**ERRORS, 409: ERRORS[400]}


class KeyframeResponse(BaseModel):
    id: int
    camera: str
    frame_time: datetime
    score: float = Field(description="Cosine similarity of the keyframe's whole-frame embedding with the image's.")
    thumbnail: str = Field(description="Path of its JPEG thumbnail under /api/v1.")

    @classmethod
    def from_keyframe(cls, keyframe: ArchivedKeyframe) -> KeyframeResponse:
        return cls(
            id=keyframe.id,
            camera=keyframe.camera,
            frame_time=keyframe.frame_time,
            score=keyframe.score,
            thumbnail=f"/api/v1/archive/{keyframe.id}/thumbnail",
        )


class SearchResponse(BaseModel):
    model: str = Field(description="The scene model whose embeddings were compared.")
    results: list[KeyframeResponse] = Field(description="Best first.")


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=_ERRORS,
    openapi_extra=multipart_openapi("image", many=False, fields=_FIELDS),
)
async def search(request: Request, context: Context, _: Viewer) -> SearchResponse:
    """The archived keyframes most like the image, best first."""
    archive = _archive(context)
    form = await read_upload(request, context.limits, file_field="image", budget=context.decode_budget)
    image = form.single_image("image")
    since, until = (_time(request, form, name) for name in ("since", "until"))
    top_k = _top_k(request, form)
    camera = _param(request, form, "camera") or None
    embedder = context.embedders.for_kind("anomaly")  # the pipeline's scene model
    limits = context.limits

    def run() -> SearchResponse:
        with context.decode_budget.hold(image.data):  # the pixels live until the embedding is done
            pixels = decode_image(image.data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_pixels)
            vector = embedder.embed([pixels.pixels])[0]
            del pixels
        found = archive.search(vector, embedder.version, camera=camera, since=since, until=until, top_k=top_k)
        return SearchResponse(model=embedder.version, results=[KeyframeResponse.from_keyframe(k) for k in found])

    return await run_in_threadpool(run)


@router.get(
    "/archive/{keyframe_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The keyframe's JPEG thumbnail."}, **_ERRORS},
)
def thumbnail(keyframe_id: int, context: Context, _: Viewer) -> FileResponse:
    """The thumbnail of an archived keyframe (a search result's ``thumbnail``)."""
    path = _archive(context).thumbnail(keyframe_id)
    if path is None:
        raise ArchiveError(f"no archived keyframe {keyframe_id} (or it has expired)", code="keyframe_not_found")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def _archive(context: ApiContext) -> KeyframeArchive:
    if context.archive is None:
        raise ArchiveError("the keyframe archive is off on this node (archive.enabled: false)", code="archive_disabled")
    return context.archive


def _param(request: Request, form: UploadForm, name: str) -> str | None:
    """A parameter from the form, else from the query string."""
    return form.text(name) or request.query_params.get(name)


def _time(request: Request, form: UploadForm, name: str) -> datetime | None:
    text = _param(request, form, name)
    return parse_time(text, name) if text else None


def _top_k(request: Request, form: UploadForm) -> int:
    text = _param(request, form, "top_k")
    if not text:
        return DEFAULT_TOP_K
    if not text.strip().isdigit() or not 1 <= int(text) <= 100:
        raise InvalidRequestError(f"top_k: must be a whole number from 1 to 100, got {text[:20]!r}")
    return int(text)
