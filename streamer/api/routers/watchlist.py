"""``/watchlist``: list, create, show and remove entries (create and remove need ``admin``).

``POST /watchlist`` takes a multipart form (``kind``, ``label``, optional ``threshold``, ``cameras`` repeated,
``notes``, and ``images``): every image is checked and embedded by the live model before anything is written, so a
refused request leaves the store and the audit log untouched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Admin, Context, Viewer, actor
from streamer.api.errors import InvalidRequestError
from streamer.api.schemas import (
    AuditResponse,
    EnrollResponse,
    EntryAdaptationResponse,
    EntryDetailResponse,
    EntryPostureResponse,
    EntryResponse,
    ErrorResponse,
    ImageResponse,
)
from streamer.api.uploads import multipart_openapi, read_upload
from streamer.posture_matcher import entry_posture
from watchlists.enroll import Enroller
from watchlists.records import KINDS, Entry, check_entry_fields

router = APIRouter(prefix="/watchlist", tags=["watchlist"])
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413, 415, 422)}

_CREATE_FIELDS = {
    "kind": "face (a person) or anomaly (a scene)",
    "label": "name shown in alerts",
    "threshold": "cosine similarity to match; empty for the kind's default",
    "cameras": "only alert on this camera (repeat the field; none for all cameras)",
    "notes": "free text for admins",
}


def entry_response(context: Context, entry: Entry) -> EntryResponse:
    return EntryResponse.from_entry(entry, context.default_thresholds[entry.kind])


@router.get("", response_model=list[EntryResponse], responses=ERRORS)
def list_entries(
    context: Context, _: Viewer, kind: Annotated[str | None, Query(pattern="^(face|anomaly)$")] = None
) -> list[EntryResponse]:
    """Every entry (of one kind when asked), oldest first."""
    return [entry_response(context, e) for e in context.store.list_entries(kind)]


@router.post(
    "",
    response_model=EnrollResponse,
    status_code=201,
    responses=ERRORS,
    openapi_extra=multipart_openapi("images", many=True, fields=_CREATE_FIELDS, required=("kind", "label")),
)
async def create_entry(request: Request, context: Context, token: Admin) -> EnrollResponse:
    """Create an entry from reference images; nothing is stored when any image is refused."""
    form = await read_upload(request, context.limits, file_field="images", budget=context.decode_budget)
    kind = form.text("kind", "") or ""
    if kind not in KINDS:
        raise InvalidRequestError(f"kind: must be one of {', '.join(KINDS)}, got {kind[:20]!r}")
    label, threshold = form.text("label", "") or "", form.number("threshold")
    cameras, notes = form.fields.get("cameras", []), form.text("notes", "") or ""
    check_entry_fields(label, threshold, cameras, notes)
    context.check_cameras(cameras)
    embedder = context.embedders.for_kind(kind)
    enroller = Enroller(context.store, embedder, show_progress=False)
    options = {"threshold": threshold, "cameras": cameras, "notes": notes}
    report = await run_in_threadpool(enroller.enroll, kind, label, form.images, actor=actor(token), **options)
    return EnrollResponse.from_report(report, context.default_thresholds[kind])


@router.get("/{entry_id}", response_model=EntryDetailResponse, responses=ERRORS)
def get_entry(entry_id: str, context: Context, _: Viewer) -> EntryDetailResponse:
    """One entry with its reference images, its negative examples and its audit history."""
    store = context.store
    entry = store.get_entry(entry_id)
    serving = context.adaptation.serving if context.adaptation is not None else None
    posture = entry_posture(entry.kind, entry.label, context.posture) if context.posture is not None else None
    adaptation = serving.entry_summary(entry.id) if serving is not None and posture is None else None
    return EntryDetailResponse(
        entry=entry_response(context, entry),
        adaptation=EntryAdaptationResponse(**adaptation) if adaptation else None,
        posture=EntryPostureResponse(**posture) if posture else None,
        images=[ImageResponse.from_image(i) for i in store.entry_images(entry.id)],
        negatives=[ImageResponse.from_image(i) for i in store.entry_negatives(entry.id)],
        audit=[AuditResponse.from_record(a) for a in store.audit(entry.id)],
    )


@router.delete("/{entry_id}", response_model=EntryResponse, responses=ERRORS)
def remove_entry(entry_id: str, context: Context, token: Admin) -> EntryResponse:
    """Remove an entry with its images, negatives and embeddings; the audit log keeps the record."""
    return entry_response(context, context.store.remove_entry(entry_id, actor=actor(token)))
