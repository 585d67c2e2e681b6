"""``GET /healthz``: the API is up. No token needed, so load balancers and probes can call it."""

from __future__ import annotations

from fastapi import APIRouter

from streamer.api.auth import Context
from streamer.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
def healthz(context: Context) -> HealthResponse:
    """Answers as long as the service runs; says which node answered."""
    return HealthResponse(node_id=context.node_id)
