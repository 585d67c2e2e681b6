"""What the watchlist store takes and gives back: frozen records, checked when built.

They are the only shapes that cross the store's boundary, so the store's two engines (SQLite for one node,
PostgreSQL for several) can be swapped under the enroller, the index, the CLI and the API without any of them
noticing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import numpy as np

from watchlists.errors import EmbeddingMismatchError, InvalidEntryError

Kind = Literal["face", "anomaly"]
KINDS: tuple[str, ...] = get_args(Kind)
UNIT_NORM_TOLERANCE = 1e-3
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def control_character_problem(field: str, value: str) -> str | None:
    """Why ``value`` is refused when it holds a control character (CR, LF, TAB, NUL ...), else ``None``.

    Labels, notes and camera names end up in log lines, MQTT topics and web pages; a newline in one could forge a
    log line, so they are refused where they are typed, not cleaned up where they are shown.
    """
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"{field} must not contain control characters (found {found[0]!r} at position {found.start()})"


def check_kind(kind: str) -> Kind:
    """``kind`` itself when it is a known kind; a ``ValueError`` naming the known ones otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]


def check_unit_embedding(vector: np.ndarray) -> None:
    """Refuse anything but a finite, unit-length 1-D float32 vector: the index scores by inner product."""
    if vector.dtype != np.float32 or vector.ndim != 1 or vector.size == 0:
        raise EmbeddingMismatchError(f"embedding must be 1-D float32, got shape {vector.shape} dtype {vector.dtype}")
    if not np.isfinite(vector).all():
        raise EmbeddingMismatchError("embedding has NaN or infinite values")
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise EmbeddingMismatchError(f"embedding must be L2-normalised, its norm is {norm:.4f}")


def label_key(label: str) -> str:
    """What labels are compared by: case and spacing aside, "Fall", "fall " and "FALL" are one label."""
    return " ".join(label.casefold().split())


def check_entry_fields(label: str, threshold: float | None, cameras: Sequence[str], notes: str = "") -> None:
    """Refuse entry fields a person typed wrong, naming the field, before anything is written."""
    if not label.strip():
        raise InvalidEntryError("label must not be empty")
    for name, text in (("label", label), ("notes", notes), *(("camera name", camera) for camera in cameras)):
        if problem := control_character_problem(name, text):
            raise InvalidEntryError(problem)
    if threshold is not None and not (math.isfinite(threshold) and -1.0 <= threshold <= 1.0):
        raise InvalidEntryError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    for camera in cameras:
        if not camera or any(c in camera for c in "/#+ "):
            raise InvalidEntryError(f"camera {camera!r} is not a camera name (no '/', '#', '+' or space)")


@dataclass(frozen=True)
class Entry:
    """One watchlist entry: a person (``face``) or a scene to alert on (``anomaly``).

    Attributes:
        threshold: cosine similarity a match must reach; ``None`` means the kind's configured default.
        cameras: cameras the entry applies to; empty means every camera.
        image_count: how many reference images it has.
    """

    id: str
    kind: Kind
    label: str
    notes: str
    threshold: float | None
    cameras: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    image_count: int = 0

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if len(self.id) != 32:
            raise ValueError(f"Entry.id must be 32 hex digits, got {self.id!r}")
        if not self.label.strip():
            raise ValueError("Entry.label must not be empty")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"Entry.threshold must be a cosine similarity in [-1, 1], got {self.threshold}")
        if not isinstance(self.cameras, tuple) or not all(isinstance(c, str) and c for c in self.cameras):
            raise ValueError(f"Entry.cameras must be a tuple of camera names, got {self.cameras!r}")


@dataclass(frozen=True)
class StoredImage:
    """A reference image as stored (its bytes are fetched separately: they can be megabytes).

    Attributes:
        id: the image id, or the negative's id when ``negative`` (the two are numbered apart).
        source: where it came from (file path or upload name), for people reading ``show`` and the audit log.
        model_versions: models that have an embedding of it.
        negative: a "not this" example of its entry rather than a reference.
    """

    id: int
    entry_id: str
    sha256: str
    media_type: str
    width: int
    height: int
    source: str
    added_by: str
    added_at: datetime
    model_versions: tuple[str, ...] = ()
    negative: bool = False


@dataclass(frozen=True, eq=False)
class NewImage:
    """An image to store with its embedding; the SHA-256 is verified against the bytes.

    Attributes:
        data: the encoded bytes as received.
        embedding: (dim,) float32, L2-normalised, from the model named by ``model_version``.
    """

    data: bytes = field(repr=False)
    sha256: str
    media_type: str
    width: int
    height: int
    source: str
    embedding: np.ndarray = field(repr=False)
    model_version: str

    def __post_init__(self) -> None:
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError(f"NewImage.sha256 does not match its bytes ({self.source})")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"NewImage size must be positive, got {self.width}x{self.height} ({self.source})")
        if not self.model_version:
            raise ValueError("NewImage.model_version must not be empty")
        check_unit_embedding(self.embedding)


@dataclass(frozen=True, eq=False)
class NewEmbedding:
    """An embedding of an image already stored, by a model it had none from (re-embedding after a model change).

    Attributes:
        image_id: the image, or the negative when ``negative``.
        vector: (dim,) float32, L2-normalised.
    """

    image_id: int
    negative: bool
    vector: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        check_unit_embedding(self.vector)


@dataclass(frozen=True)
class DuplicateImage:
    """An image that was not stored because the same bytes already are; ``entry_id`` and ``image_id`` own them."""

    source: str
    sha256: str
    entry_id: str
    image_id: int


@dataclass(frozen=True)
class WriteResult:
    """What one write did: the entry as it is now, the images added, the duplicates skipped."""

    entry: Entry
    added: tuple[StoredImage, ...]
    duplicates: tuple[DuplicateImage, ...]


@dataclass(frozen=True)
class AuditRecord:
    """One row of the append-only audit log: who did what, when, to which entry."""

    id: int
    at: datetime
    actor: str
    action: str
    entry_id: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class EmbeddingSet:
    """Everything an index needs, read in one transaction so entries and vectors agree.

    Attributes:
        revision: the store revision this was read at.
        entries: the entries of the kind that may match (enabled ones unless asked otherwise), with or without
            embeddings for this model (those without are the ones to re-embed after a model change).
        image_ids: (N,) int64 ids of the embedded images, ascending.
        entry_ids: (N,) the entry of each image.
        vectors: (N, dim) float32 rows, L2-normalised.
        negative_entry_ids: (M,) the entry each embedded negative example belongs to.
        negative_vectors: (M, dim) float32 rows, L2-normalised: a query closer to one of these than to its entry's
            references does not match that entry.
    """

    kind: Kind
    model_version: str
    revision: int
    entries: tuple[Entry, ...]
    image_ids: np.ndarray = field(repr=False)
    entry_ids: tuple[str, ...] = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    negative_entry_ids: tuple[str, ...] = field(default=(), repr=False)
    negative_vectors: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32), repr=False)

    def __post_init__(self) -> None:
        n, m = len(self.image_ids), len(self.negative_entry_ids)
        if self.image_ids.dtype != np.int64 or self.image_ids.ndim != 1:
            raise ValueError(f"EmbeddingSet.image_ids must be 1-D int64, got {self.image_ids.dtype}")
        if self.vectors.dtype != np.float32 or self.vectors.ndim != 2 or self.vectors.shape[0] != n:
            raise ValueError(f"EmbeddingSet.vectors must be ({n}, dim) float32, got {self.vectors.shape}")
        if len(self.entry_ids) != n:
            raise ValueError(f"EmbeddingSet.entry_ids must have {n} items, got {len(self.entry_ids)}")
        negatives = self.negative_vectors
        if negatives.dtype != np.float32 or negatives.ndim != 2 or negatives.shape[0] != m:
            raise ValueError(f"EmbeddingSet.negative_vectors must be ({m}, dim) float32, got {negatives.shape}")
        if n and m and negatives.shape[1] != self.vectors.shape[1]:
            dims = (negatives.shape[1], self.vectors.shape[1])
            raise ValueError(f"EmbeddingSet negatives have {dims[0]} dimensions, references {dims[1]}")

    @property
    def dim(self) -> int | None:
        """Embedding dimension, or ``None`` when nothing is embedded with this model yet."""
        if len(self.image_ids):
            return int(self.vectors.shape[1])
        return int(self.negative_vectors.shape[1]) if len(self.negative_entry_ids) else None
