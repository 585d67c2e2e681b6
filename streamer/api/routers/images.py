"""``GET /watchlist/{id}/images/{image_id}`` and ``GET /watchlist/{id}/negatives/{negative_id}``: the stored bytes
of a reference image or negative example (``viewer``), so the web page can show what an entry holds; ``DELETE`` on
the same paths removes one (``admin``, audited; the indexes drop it on their next sync). An entry's last reference
image is refused (``409 last_image``): remove the entry instead.

The bytes go back as they were received, with the media type sniffed at upload (never the uploader's claim), marked
``nosniff`` and ``no-store``: watchlist images are often faces, and no cache between the admin and the node should
keep a copy. An image is served only under the entry that owns it.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from streamer.api.auth import Admin, Context, Viewer, actor
from streamer.api.routers.watchlist import ERRORS
from streamer.api.schemas import ErrorResponse, ImageResponse
from watchlists.errors import EntryNotFoundError

router = APIRouter(prefix="/watchlist", tags=["watchlist"])

_IMAGE_RESPONSES = {200: {"content": {"image/*": {}}, "description": "The image's bytes."}, **ERRORS}
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_REMOVE_ERRORS = {**ERRORS, 409: {"model": ErrorResponse}}


@router.get("/{entry_id}/images/{image_id}", response_class=Response, responses=_IMAGE_RESPONSES)
def image_file(entry_id: str, image_id: int, context: Context, _: Viewer) -> Response:
    """A reference image of the entry, as uploaded."""
    return _stored_file(context, entry_id, image_id, negative=False)


@router.get("/{entry_id}/negatives/{negative_id}", response_class=Response, responses=_IMAGE_RESPONSES)
def negative_file(entry_id: str, negative_id: int, context: Context, _: Viewer) -> Response:
    """A negative example of the entry, as uploaded."""
    return _stored_file(context, entry_id, negative_id, negative=True)


@router.delete("/{entry_id}/images/{image_id}", response_model=ImageResponse, responses=_REMOVE_ERRORS)
def remove_image(entry_id: str, image_id: int, context: Context, token: Admin) -> ImageResponse:
    """Remove one reference image of the entry (never its last one) with its embeddings."""
    return ImageResponse.from_image(context.store.remove_image(entry_id, image_id, actor=actor(token)))


@router.delete("/{entry_id}/negatives/{negative_id}", response_model=ImageResponse, responses=_REMOVE_ERRORS)
def remove_negative(entry_id: str, negative_id: int, context: Context, token: Admin) -> ImageResponse:
    """Remove one negative example of the entry with its embeddings."""
    removed = context.store.remove_image(entry_id, negative_id, actor=actor(token), negative=True)
    return ImageResponse.from_image(removed)


def _stored_file(context: Context, entry_id: str, image_id: int, *, negative: bool) -> Response:
    """The bytes of one of the entry's images; ``entry_not_found`` or ``image_not_found`` (404) otherwise."""
    store = context.store
    owned = store.entry_negatives(entry_id) if negative else store.entry_images(entry_id)
    image = next((i for i in owned if i.id == image_id), None)
    if image is None:
        what = "negative example" if negative else "image"
        raise EntryNotFoundError(f"entry {entry_id!r} has no {what} {image_id}", code="image_not_found")
    return Response(store.image_bytes(image.id, negative=negative), media_type=image.media_type, headers=_HEADERS)
