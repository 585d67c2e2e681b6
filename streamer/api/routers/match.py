"""``POST /match``: what in the watchlist an image matches, with scores (``viewer``).

A multipart form with one ``image``, optionally ``kind`` (default: ``face`` when the face pipeline finds a face in
the image, else ``anomaly``), ``top_k`` and ``camera`` (apply
camera scopes as a frame from that camera would). The image is embedded by the live model and searched in an index
that follows the store, exactly as a keyframe would be; nothing is written.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Context, Viewer
from streamer.api.errors import InvalidRequestError
from streamer.api.routers.watchlist import ERRORS
from streamer.api.schemas import MatchesResponse, MatchResponse
from streamer.api.uploads import multipart_openapi, read_upload
from watchlists.images import decode_image
from watchlists.records import KINDS

router = APIRouter(tags=["match"])
_FIELDS = {
    "kind": "face or anomaly (default: face if a face is found, else anomaly)",
    "top_k": "at most this many entries",
    "camera": "apply camera scopes",
}


@router.post(
    "/match",
    response_model=MatchesResponse,
    responses=ERRORS,
    openapi_extra=multipart_openapi("image", many=False, fields=_FIELDS),
)
async def match(request: Request, context: Context, _: Viewer) -> MatchesResponse:
    """The entries the image matches, best first (only those at or over their threshold)."""
    form = await read_upload(request, context.limits, file_field="image", budget=context.decode_budget)
    image = form.single_image("image")
    kind = form.text("kind", "") or None
    if kind is not None and kind not in KINDS:
        raise InvalidRequestError(f"kind: must be one of {', '.join(KINDS)}, got {kind[:20]!r}")
    top_k = form.number("top_k")
    if top_k is not None and not (1 <= top_k <= 100 and top_k.is_integer()):
        raise InvalidRequestError(f"top_k: must be a whole number from 1 to 100, got {top_k:g}")
    if kind is not None:
        context.embedders.for_kind(kind)  # a kind this build cannot embed is refused before decoding
    limits = context.limits

    def search() -> MatchesResponse:
        with context.decode_budget.hold(image.data):  # the pixels live until the embedding is done
            pixels = decode_image(image.data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_pixels)
            found_kind, embedder, vectors = context.embedders.embed_probe(pixels.pixels, kind)
            del pixels
        index = context.index(found_kind, embedder.version, embedder.dim)
        found = index.search(vectors, camera=form.text("camera"), k=int(top_k or context.top_k))[0]
        return MatchesResponse(
            kind=found_kind, model_version=embedder.version, matches=[MatchResponse.from_match(m) for m in found]
        )

    return await run_in_threadpool(search)
