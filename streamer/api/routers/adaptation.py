"""``GET /adapt`` (viewer): the anomaly adaptation serving now and the trainer's state; ``POST /adapt`` (admin): train
now rather than after the next change.

Training runs on the node's background trainer, so ``POST`` answers ``202`` at once; poll ``GET`` for the outcome
(``state`` back to ``idle``, ``last_outcome``). With adaptation off (``adaptation.enabled: false``) both answer 409
``adaptation_disabled``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from streamer.adaptation_worker import AdaptationWorker
from streamer.api.auth import Admin, Context, Viewer
from streamer.api.context import ApiContext
from streamer.api.errors import ApiError
from streamer.api.schemas import ErrorResponse

router = APIRouter(tags=["adaptation"])
_ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 409)}


class AdaptationDisabledError(ApiError):
    """This node does not train or serve adaptations (``adaptation.enabled: false``)."""

    code = "adaptation_disabled"


class AdaptationStatus(BaseModel):
    state: str = Field(description="`training` while a training runs, else `idle`.")
    last_outcome: str | None = Field(
        description="What the last training did: trained, unchanged, nothing, cancelled or failed (null: none yet)."
    )
    last_error: str | None = Field(description="Why the last training failed, when it did.")
    adaptation: dict[str, Any] | None = Field(
        description="The adaptation serving now (version, model, watchlist revision, per-entry heads with thresholds "
        "and validation), or null: every anomaly entry is matched by cosine."
    )


@router.get("/adapt", response_model=AdaptationStatus, responses=_ERRORS)
def adaptation_status(context: Context, _: Viewer) -> AdaptationStatus:
    """The serving adaptation and the trainer's state."""
    return AdaptationStatus(**_worker(context).status())


@router.post("/adapt", response_model=AdaptationStatus, status_code=202, responses=_ERRORS)
def adapt(context: Context, token: Admin) -> AdaptationStatus:
    """Ask the node's trainer to train now (even if nothing changed); answers at once."""
    worker = _worker(context)
    worker.request(f"api:{token.name}")
    return AdaptationStatus(**worker.status())


def _worker(context: ApiContext) -> AdaptationWorker:
    if context.adaptation is None:
        raise AdaptationDisabledError("few-shot adaptation is off on this node (adaptation.enabled: false)")
    return context.adaptation
