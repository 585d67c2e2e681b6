"""``GET /cameras``: every camera's state (up, down, reconnecting), since when, and its last frame."""

from __future__ import annotations

from fastapi import APIRouter

from streamer.api.auth import Context, Viewer
from streamer.api.schemas import CameraResponse, CamerasResponse

router = APIRouter(tags=["cameras"])


@router.get("/cameras", response_model=CamerasResponse)
def list_cameras(context: Context, _: Viewer) -> CamerasResponse:
    """The same status the service publishes, retained, on ``<prefix>/cameras/<camera>/status``."""
    statuses = sorted(context.camera_statuses(), key=lambda status: status.camera)
    return CamerasResponse(cameras=[CameraResponse.from_status(status) for status in statuses])
