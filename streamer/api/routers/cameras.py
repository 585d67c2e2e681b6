"""``GET /cameras``: every camera's state (up, down, reconnecting), since when, and its last frame; and
``GET /cameras/{name}/latest.jpg``: a thumbnail of its newest keyframe."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from streamer.api.auth import Context, Viewer
from streamer.api.errors import ApiError
from streamer.api.schemas import CameraResponse, CamerasResponse, ErrorResponse

router = APIRouter(tags=["cameras"])


@router.get("/cameras", response_model=CamerasResponse)
def list_cameras(context: Context, _: Viewer) -> CamerasResponse:
    """The same status the service publishes, retained, on ``<prefix>/cameras/<camera>/status``."""
    statuses = sorted(context.camera_statuses(), key=lambda status: status.camera)
    return CamerasResponse(cameras=[CameraResponse.from_status(status) for status in statuses])


_LATEST = {
    200: {"content": {"image/jpeg": {}}, "description": "The JPEG (at most 480 px on its longer side)."},
    404: {"description": "Unknown camera, or no keyframe from it yet.", "model": ErrorResponse},
}


@router.get("/cameras/{name}/latest.jpg", response_class=Response, responses=_LATEST)
def latest_keyframe(name: str, context: Context, _: Viewer) -> Response:
    """The camera's newest keyframe, scaled down; ``keyframe_not_found`` (404) before its first one."""
    if name not in {status.camera for status in context.camera_statuses()}:
        raise ApiError(f"camera {name[:60]!r} not found", code="camera_not_found")
    jpeg = context.latest_jpeg(name)
    if jpeg is None:
        raise ApiError(f"camera {name!r} has sent no keyframe yet", code="keyframe_not_found")
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )
