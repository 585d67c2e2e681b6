"""What an index needs to catch up with the store, without re-reading the vectors it already holds.

An index keyed by image id holds vectors that never change: an (image, model version) embedding is written once and
only ever deleted with its image, and image ids are never reused. So catching up is a set difference: read which
image ids exist now (a small read), drop what vanished, fetch the vectors of the ids that are new. The entries and
their negative examples are re-read whole each time: they are metadata, small beside the vectors.

The statements are plain SQL (``?`` placeholders, no engine-specific functions) so they port to PostgreSQL as is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from watchlists import rows
from watchlists.database import SqlConnection
from watchlists.errors import EmbeddingMismatchError
from watchlists.negative_rows import NEGATIVE_VECTOR_SELECT
from watchlists.records import Entry, Kind

# Parameters: the kind. What an index needs of each entry and no more: building full ``Entry`` records (times
# parsed, images counted) for 100k entries took 1.2 s of a 1.5 s catch-up; these rows take 0.2 s.
ENTRY_COLUMNS_SELECT = """
SELECT e.id, e.label, e.threshold, e.cameras, e.enabled
FROM entries e
WHERE e.kind = ?
ORDER BY e.created_at, e.id
"""

# Parameters: the model version, the kind.
EMBEDDING_ID_SELECT = """
SELECT m.image_id, i.entry_id
FROM embeddings m
JOIN images i ON i.id = m.image_id
JOIN entries e ON e.id = i.entry_id
WHERE m.model_version = ? AND e.kind = ?
ORDER BY m.image_id
"""

# Parameters: the model version, the kind.
VECTOR_SCAN = """
SELECT m.image_id, m.dim, m.vector
FROM embeddings m
JOIN images i ON i.id = m.image_id
JOIN entries e ON e.id = i.entry_id
WHERE m.model_version = ? AND e.kind = ?
ORDER BY m.image_id
"""

# Parameters: the model version, then the image ids of ``{ids}`` (one ``?`` each).
VECTORS_OF_IDS = """
SELECT m.image_id, m.dim, m.vector
FROM embeddings m
WHERE m.model_version = ? AND m.image_id IN ({ids})
ORDER BY m.image_id
"""

IDS_PER_STATEMENT = 500
"""Ids per ``IN (...)`` list: far below every engine's parameter limit (SQLite's is 32766, PostgreSQL's 65535)."""


@dataclass(frozen=True, eq=False)
class EntryColumns:
    """The entries of a kind as an index needs them, column by column, oldest first.

    Attributes:
        ids: (E,) entry ids.
        labels: (E,) their labels.
        thresholds: (E,) float64, each entry's own threshold, NaN where it uses the kind's default.
        enabled: (E,) bool.
        cameras: position -> camera names, for the entries limited to some cameras only.
    """

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    thresholds: np.ndarray = field(repr=False)
    enabled: np.ndarray = field(repr=False)
    cameras: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        count = len(self.ids)
        if not len(self.labels) == len(self.thresholds) == len(self.enabled) == count:
            raise ValueError(f"EntryColumns must all have {count} rows")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> EntryColumns:
        """The columns of full ``Entry`` records (for callers holding those)."""
        return cls(
            ids=tuple(e.id for e in entries),
            labels=tuple(e.label for e in entries),
            thresholds=np.array([np.nan if e.threshold is None else e.threshold for e in entries], dtype=np.float64),
            enabled=np.array([e.enabled for e in entries], dtype=bool),
            cameras={i: e.cameras for i, e in enumerate(entries) if e.cameras},
        )


@dataclass(frozen=True, eq=False)
class EmbeddingChanges:
    """The store at one revision, as an index holding the vectors of ``known`` image ids needs it.

    Attributes:
        revision: the store revision this was read at.
        entries: every entry of the kind, enabled or not (an index filters on ``enabled`` at search time, so
            switching an entry off and on moves no vectors), oldest first.
        image_ids: (N,) int64, ascending: every image of the kind with an embedding by the model.
        entry_ids: (N,) the entry of each image.
        new_ids: (K,) int64, ascending: the ids among ``image_ids`` that were not known.
        new_vectors: (K, dim) float32, L2-normalised: their vectors.
        negative_entry_ids: (M,) the entry of each embedded negative example.
        negative_vectors: (M, dim) float32: the negatives' vectors (few, so always read whole).
        dim: the model's embedding size as stored, or ``None`` when nothing read had a vector.
    """

    kind: Kind
    model_version: str
    revision: int
    entries: EntryColumns
    image_ids: np.ndarray = field(repr=False)
    entry_ids: tuple[str, ...] = field(repr=False)
    new_ids: np.ndarray = field(repr=False)
    new_vectors: np.ndarray = field(repr=False)
    negative_entry_ids: tuple[str, ...] = field(repr=False)
    negative_vectors: np.ndarray = field(repr=False)
    dim: int | None = None

    def __post_init__(self) -> None:
        n, k, m = len(self.image_ids), len(self.new_ids), len(self.negative_entry_ids)
        if self.image_ids.dtype != np.int64 or self.new_ids.dtype != np.int64 or len(self.entry_ids) != n:
            raise ValueError(
                f"EmbeddingChanges ids must be int64 with one entry id each, got {n} vs {len(self.entry_ids)}"
            )
        arrays = (("new_vectors", self.new_vectors, k), ("negative_vectors", self.negative_vectors, m))
        for name, array, count in arrays:
            if array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != count:
                raise ValueError(f"EmbeddingChanges.{name} must be ({count}, dim) float32, got {array.shape}")

    def removed_from(self, known: np.ndarray) -> np.ndarray:
        """(R,) int64: the ids among ``known`` that no longer exist in the store."""
        return np.setdiff1d(known, self.image_ids, assume_unique=True).astype(np.int64)


def read_changes(db: SqlConnection, kind: Kind, model_version: str, known: np.ndarray) -> EmbeddingChanges:
    """Read an ``EmbeddingChanges`` inside the caller's read transaction (one snapshot for all of it)."""
    revision = int(db.execute("SELECT value FROM revision").fetchone()[0])
    entries = _entry_columns(db.execute(ENTRY_COLUMNS_SELECT, (kind,)).fetchall())
    id_rows = db.execute(EMBEDDING_ID_SELECT, (model_version, kind)).fetchall()
    image_ids = np.fromiter((r[0] for r in id_rows), dtype=np.int64, count=len(id_rows))
    new_ids = np.setdiff1d(image_ids, known, assume_unique=True).astype(np.int64)
    if len(new_ids) * 4 >= len(image_ids):  # most of it is new (a first build): one scan beats many id lists
        scanned = db.execute(VECTOR_SCAN, (model_version, kind)).fetchall()
        vector_rows = [r for r, keep in zip(scanned, np.isin(image_ids, new_ids), strict=True) if keep]
    else:
        vector_rows = vectors_of_ids(db, model_version, new_ids)
    negative_where = NEGATIVE_VECTOR_SELECT.format(where="WHERE e.kind = ?")
    negative_rows = db.execute(negative_where, (model_version, kind)).fetchall()
    dim = _one_dim(model_version, [*vector_rows, *((r[0], r[2], r[3]) for r in negative_rows)])
    return EmbeddingChanges(
        kind=kind,
        model_version=model_version,
        revision=revision,
        entries=entries,
        image_ids=image_ids,
        entry_ids=tuple(r[1] for r in id_rows),
        new_ids=np.array([r[0] for r in vector_rows], dtype=np.int64),
        new_vectors=matrix([r[2] for r in vector_rows], dim),
        negative_entry_ids=tuple(r[1] for r in negative_rows),
        negative_vectors=matrix([r[3] for r in negative_rows], dim),
        dim=dim,
    )


def vectors_of_ids(db: SqlConnection, model_version: str, image_ids: Sequence[int] | np.ndarray) -> list[Any]:
    """(image id, dim, vector bytes) rows by ``model_version`` for these ids, ascending; missing ids are left out."""
    found: list[Any] = []
    for start in range(0, len(image_ids), IDS_PER_STATEMENT):
        chunk = [int(i) for i in image_ids[start : start + IDS_PER_STATEMENT]]
        statement = VECTORS_OF_IDS.format(ids=", ".join("?" * len(chunk)))
        found.extend(db.execute(statement, (model_version, *chunk)))
    return sorted(found, key=lambda r: r[0])


def matrix(blobs: Sequence[bytes], dim: int | None) -> np.ndarray:
    """Stored vector blobs as one (len, dim) native, writable float32 array."""
    stacked = np.frombuffer(b"".join(blobs), dtype=rows.VECTOR_DTYPE)
    return stacked.reshape(len(blobs), dim or 0).astype(np.float32)


def _entry_columns(entry_rows: Sequence[Sequence[Any]]) -> EntryColumns:
    """``ENTRY_COLUMNS_SELECT`` rows as columns; cameras are JSON text (SQLite) or already decoded (PostgreSQL)."""
    cameras = {}
    for i, row in enumerate(entry_rows):
        if row[3] not in ("[]", b"[]", []):
            cameras[i] = tuple(json.loads(row[3]) if isinstance(row[3], str | bytes) else row[3])
    return EntryColumns(
        ids=tuple(r[0] for r in entry_rows),
        labels=tuple(r[1] for r in entry_rows),
        thresholds=np.array([np.nan if r[2] is None else r[2] for r in entry_rows], dtype=np.float64),
        enabled=np.array([bool(r[4]) for r in entry_rows], dtype=bool),
        cameras={i: c for i, c in cameras.items() if c},
    )


def _one_dim(model_version: str, vector_rows: Sequence[Sequence[Any]]) -> int | None:
    dims = {int(r[1]) for r in vector_rows}
    if len(dims) > 1:
        raise EmbeddingMismatchError(f"model {model_version} has embeddings of several dimensions: {sorted(dims)}")
    return dims.pop() if dims else None
