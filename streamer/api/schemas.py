"""The API's JSON shapes: one Pydantic model per response (and the error envelope), built from library records.

Kept apart from the routes so the contract reads in one place and shows in the OpenAPI page (``/docs``). Each
``from_*`` converter sits on the response it builds, beside the record it reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictStr, model_validator

from streamer.sources.status import CameraStatus
from watchlists.enroll import EnrollReport
from watchlists.index import Match
from watchlists.records import AuditRecord, DuplicateImage, Entry, StoredImage


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable code, the same the CLI prints (corrupt_image, entry_not_found ...).")
    message: str
    problems: list[dict[str, str]] | None = Field(None, description="Per image, when several were refused.")


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    node_id: str


class EntryResponse(BaseModel):
    id: str
    kind: Literal["face", "anomaly"]
    label: str
    notes: str
    threshold: float | None = Field(description="The entry's own threshold; null uses the kind's default.")
    effective_threshold: float
    cameras: list[str] = Field(description="Cameras it applies to; empty means all.")
    enabled: bool
    image_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_entry(cls, entry: Entry, default_threshold: float) -> EntryResponse:
        effective = default_threshold if entry.threshold is None else entry.threshold
        fields = {k: v for k, v in vars(entry).items() if k != "cameras"}
        return cls(**fields, cameras=list(entry.cameras), effective_threshold=effective)


class EntryUpdateRequest(BaseModel):
    """``PATCH /watchlist/{id}``: the fields to change; a field left out stays as it is.

    Only ``threshold`` may be ``null`` (back to the kind's default), so "left out" and "reset" never blur: which
    fields were sent is ``model_fields_set``. Values are checked by the store (``invalid_entry``), the same rules as
    for a new entry; an unknown field is refused by name.
    """

    model_config = ConfigDict(extra="forbid")

    label: StrictStr | None = Field(None, description="Name shown in alerts; not empty.")
    notes: StrictStr | None = Field(None, description="Free text for admins; empty clears it.")
    threshold: StrictFloat | None = Field(
        None, description="Cosine similarity in [-1, 1] a match must reach; null: the kind's default."
    )
    cameras: list[StrictStr] | None = Field(None, description="Cameras it applies to; an empty list: every camera.")
    enabled: StrictBool | None = Field(
        None, description="false: the entry never matches; its images and embeddings are kept."
    )

    @model_validator(mode="after")
    def _names_a_change(self) -> EntryUpdateRequest:
        if not self.model_fields_set:
            raise ValueError(f"nothing to change: give at least one of {', '.join(type(self).model_fields)}")
        for name in sorted(self.model_fields_set - {"threshold"}):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: null is not a value (leave the field out to keep it)")
        return self

    def changes(self) -> dict[str, Any]:
        """The sent fields as ``WatchlistStore.update_entry`` keywords (an absent threshold is not passed)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ImageResponse(BaseModel):
    id: int
    sha256: str
    media_type: str
    width: int
    height: int
    source: str
    added_by: str
    added_at: datetime
    model_versions: list[str]
    negative: bool

    @classmethod
    def from_image(cls, image: StoredImage) -> ImageResponse:
        fields = {k: v for k, v in vars(image).items() if k not in ("entry_id", "model_versions")}
        return cls(**fields, model_versions=list(image.model_versions))


class DuplicateResponse(BaseModel):
    source: str
    sha256: str
    entry_id: str = Field(description="The entry that already holds these bytes.")
    image_id: int

    @classmethod
    def from_duplicate(cls, duplicate: DuplicateImage) -> DuplicateResponse:
        return cls(**vars(duplicate))


class AuditResponse(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]

    @classmethod
    def from_record(cls, record: AuditRecord) -> AuditResponse:
        return cls(at=record.at, actor=record.actor, action=record.action, detail=dict(record.detail))


class EntryAdaptationResponse(BaseModel):
    version: str = Field(description="The adaptation whose trained head matches this entry.")
    trained_at: str
    threshold: float = Field(description="The head's score an alert needs (calibrated; not the cosine threshold).")
    validation_recall: float | None = Field(description="Held-back views of its photos at or above the threshold.")
    validation_fpr: float | None = Field(description="Held-back negative regions at or above the threshold.")
    concepts: list[str] = Field(
        default_factory=list, description="ImageNet classes its photos show, which also pass it (empty: none)."
    )
    concept_threshold: float | None = Field(
        None, description="The concepts' summed ImageNet probability that counts as a sighting."
    )
    advice: str | None = Field(
        None,
        description="What would make the head find more, when its validation is weak (few photos, or under 50% of"
        " views of its held-back photos found); null when it looks sound.",
    )


class EntryPostureResponse(BaseModel):
    threshold: float = Field(description="The person score an alert needs: detector confidence times flatness.")
    lying_within_deg: float = Field(description="A body within this many degrees of horizontal counts as lying.")
    after_standing_threshold: float = Field(
        description="The lower person score that counts right after someone stood in the same place (0: off)."
    )


class EntryDetailResponse(BaseModel):
    entry: EntryResponse
    adaptation: EntryAdaptationResponse | None = Field(
        None,
        description="Its trained few-shot head, when it has one; null: matched by cosine similarity, or by"
        " posture (``posture``).",
    )
    posture: EntryPostureResponse | None = Field(
        None,
        description="Set when the entry is matched by a person lying down (config posture.labels, e.g. fall),"
        " not by its photos.",
    )
    images: list[ImageResponse]
    negatives: list[ImageResponse]
    audit: list[AuditResponse] = Field(description="Newest first.")


class EnrollResponse(BaseModel):
    """What a write stored: the entry as it is now, the images added, those skipped as already stored."""

    entry: EntryResponse
    added: list[ImageResponse]
    duplicates: list[DuplicateResponse]
    model_version: str | None = Field(description="The model that embedded the added images; null if none.")

    @classmethod
    def from_report(cls, report: EnrollReport, default_threshold: float) -> EnrollResponse:
        return cls(
            entry=EntryResponse.from_entry(report.entry, default_threshold),
            added=[ImageResponse.from_image(i) for i in report.added],
            duplicates=[DuplicateResponse.from_duplicate(d) for d in report.duplicates],
            model_version=report.model_version,
        )


class MatchResponse(BaseModel):
    entry_id: str
    label: str
    kind: str
    score: float = Field(description="Cosine similarity of the entry's best reference image.")
    threshold: float
    image_id: int

    @classmethod
    def from_match(cls, match: Match) -> MatchResponse:
        return cls(**vars(match))


class MatchesResponse(BaseModel):
    kind: Literal["face", "anomaly"]
    model_version: str
    matches: list[MatchResponse] = Field(description="Best first; only entries at or over their threshold.")


class AlertsResponse(BaseModel):
    alerts: list[dict[str, Any]] = Field(description="Alert payloads (the MQTT alert JSON), newest first.")


class AlertAckResponse(BaseModel):
    alert_id: str
    by: str = Field(description="Who acknowledged it, as the audit log names callers (`api:<token name>`).")
    at: str = Field(description="When, ISO 8601 UTC (as in the alert rows' `ack`).")


class CameraResponse(BaseModel):
    camera: str
    state: Literal["up", "down", "reconnecting"]
    since: datetime
    last_frame_at: datetime | None
    reason: str | None = None

    @classmethod
    def from_status(cls, status: CameraStatus) -> CameraResponse:
        return cls(
            camera=status.camera,
            state=status.state.value,
            since=status.since,
            last_frame_at=status.last_frame_at,
            reason=status.reason,
        )


class CamerasResponse(BaseModel):
    cameras: list[CameraResponse]
