"""``/unknown``: the strangers the node has clustered (``unknown-<n>``), their crops, and promotion to an entry.

Reading needs ``viewer``; ``POST /unknown/{id}/promote`` needs ``admin``: it enrolls the cluster's best crops with the
live face model through the normal store writes (audited as the token's holder), as a new face entry or into an
existing one, then marks the cluster promoted. Each cluster lists its crops with the API path that serves them, so
a page can show a stranger without building URLs. A node that never clustered anyone answers an empty list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from streamer.api.auth import Admin, Context, Viewer, actor
from streamer.api.context import ApiContext
from streamer.api.routers.watchlist import ERRORS
from streamer.api.schemas import EnrollResponse, ErrorResponse
from streamer.unknown.promote import promote_cluster
from streamer.unknown.store import UnknownCluster, UnknownFaceError, UnknownFaceStore

router = APIRouter(prefix="/unknown", tags=["unknown faces"])
_JPEG = {200: {"content": {"image/jpeg": {}}, "description": "The crop, JPEG."}, **ERRORS}
_PROMOTE_ERRORS = {**ERRORS, 409: {"model": ErrorResponse}}
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class UnknownCropResponse(BaseModel):
    id: int
    path: str = Field(description="API path of the JPEG (GET with a viewer token).")
    rank: float = Field(description="Face size in pixels times detector confidence: best crops first.")
    confidence: float
    camera: str
    seen_at: datetime


class UnknownClusterResponse(BaseModel):
    """One stranger: how often and where they were seen, their best crops, and what became of them."""

    id: str = Field(description="unknown-<n>: the entry id its unknown_face alerts carry.")
    label: str
    count: int = Field(description="Faces assigned to the cluster.")
    first_seen: datetime
    last_seen: datetime
    cameras: list[str]
    best_confidence: float
    crops: list[UnknownCropResponse]
    promoted_entry: str | None = Field(description="The watchlist entry it became or joined; null if not promoted.")
    promoted_by: str | None
    promoted_at: datetime | None

    @classmethod
    def from_cluster(cls, cluster: UnknownCluster) -> UnknownClusterResponse:
        crops = [
            UnknownCropResponse(
                id=c.id, path=f"/api/v1/unknown/{cluster.id}/crops/{c.id}", rank=c.rank, confidence=c.confidence,
                camera=c.camera, seen_at=c.seen_at,
            )
            for c in cluster.crops
        ]  # fmt: skip
        return cls(
            id=cluster.id, label=cluster.label, count=cluster.count, first_seen=cluster.first_seen,
            last_seen=cluster.last_seen, cameras=list(cluster.cameras), best_confidence=cluster.best_confidence,
            crops=crops, promoted_entry=cluster.promoted_entry, promoted_by=cluster.promoted_by,
            promoted_at=cluster.promoted_at,
        )  # fmt: skip


class PromoteRequest(BaseModel):
    """A new face entry named ``label``, or, with ``entry_id``, more reference images for that entry."""

    label: str | None = Field(None, description="Name of the new entry (default: the cluster's label).")
    entry_id: str | None = Field(None, description="Add the crops to this existing face entry instead.")


class PromoteResponse(BaseModel):
    cluster: UnknownClusterResponse
    enrolled: EnrollResponse


@router.get("", response_model=list[UnknownClusterResponse], responses=ERRORS)
def list_unknown(
    context: Context, _: Viewer, promoted: Annotated[bool, Query(description="Include promoted clusters.")] = False
) -> list[UnknownClusterResponse]:
    """Every stranger cluster, most recently seen first."""
    if context.unknown is None:
        return []
    return [UnknownClusterResponse.from_cluster(c) for c in context.unknown.clusters(include_promoted=promoted)]


@router.get("/{cluster_id}", response_model=UnknownClusterResponse, responses=ERRORS)
def get_unknown(cluster_id: str, context: Context, _: Viewer) -> UnknownClusterResponse:
    """One stranger cluster with its crops."""
    return UnknownClusterResponse.from_cluster(_store(context).get(cluster_id))


@router.get("/{cluster_id}/crops/{crop_id}", response_class=FileResponse, responses=_JPEG)
def crop_file(cluster_id: str, crop_id: int, context: Context, _: Viewer) -> FileResponse:
    """One crop of the cluster (the face with a margin), JPEG."""
    path = _store(context).crop_path(cluster_id, crop_id)
    return FileResponse(path, media_type="image/jpeg", headers=_HEADERS)


@router.post("/{cluster_id}/promote", response_model=PromoteResponse, status_code=201, responses=_PROMOTE_ERRORS)
async def promote(cluster_id: str, request: PromoteRequest, context: Context, token: Admin) -> PromoteResponse:
    """Enroll the cluster's best crops as a face entry (or into ``entry_id``); the cluster is marked promoted."""
    unknown = _store(context)
    faces = context.embedders.for_kind("face")
    report = await run_in_threadpool(
        promote_cluster, unknown, context.store, faces, cluster_id,
        label=request.label, entry_id=request.entry_id, actor=actor(token),
    )  # fmt: skip
    return PromoteResponse(
        cluster=UnknownClusterResponse.from_cluster(unknown.get(cluster_id)),
        enrolled=EnrollResponse.from_report(report, context.default_thresholds["face"]),
    )


def _store(context: ApiContext) -> UnknownFaceStore:
    if context.unknown is None:
        raise UnknownFaceError("this node keeps no unknown faces (alerts.unknown_faces is off)")
    return context.unknown
