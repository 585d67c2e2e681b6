"""Watchlist records to and from database rows: the statements the store shares and the converters for them.

Kept apart from ``store`` so the store reads as its transactions, and so the column order of each statement sits
right beside the function that depends on it. Every function here runs inside a transaction the store opened.

The SQL is written once for both engines: ``?`` placeholders only (PostgreSQL's connection translates them),
``RETURNING`` for new ids, ``string_agg`` for lists (SQLite before 3.44 gets it from ``database_sqlite``). Inserts
go in multi-row batches (``batched_sql``), every check done before the first one.
The converters take what either engine returns: SQLite gives times and JSON as text, PostgreSQL as ``datetime``
and decoded ``jsonb``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from watchlists.batched_sql import insert_rows, insert_rows_returning, select_in
from watchlists.database import SqlConnection
from watchlists.errors import EmbeddingMismatchError
from watchlists.records import (
    AuditRecord,
    DuplicateImage,
    EmbeddingSet,
    Entry,
    Kind,
    NewEmbedding,
    NewImage,
    StoredImage,
)

VECTOR_DTYPE = np.dtype("<f4")
"""Embeddings are stored as little-endian float32 bytes, whatever the machine, so any node can read them."""

ENTRY_SELECT = """
SELECT e.id, e.kind, e.label, e.notes, e.threshold, e.cameras, e.enabled, e.created_at, e.updated_at,
       (SELECT count(*) FROM images i WHERE i.entry_id = e.id)
FROM entries e {where} ORDER BY e.created_at, e.id
"""

IMAGE_SELECT = """
SELECT i.id, i.entry_id, i.sha256, i.media_type, i.width, i.height, i.source, i.added_by, i.added_at,
       (SELECT string_agg(m.model_version, '\n') FROM embeddings m WHERE m.image_id = i.id)
FROM images i {where} ORDER BY i.id
"""

# Parameters: the model version first, then those of ``where`` (which filters on ``e``, the entries).
VECTOR_SELECT = """
SELECT m.image_id, i.entry_id, m.dim, m.vector
FROM embeddings m
JOIN images i ON i.id = m.image_id AND m.model_version = ?
JOIN entries e ON e.id = i.entry_id
{where} ORDER BY m.image_id
"""

# Parameters: the kind and the model version, twice. ``IMAGE_SELECT``'s columns, then whether the row is a negative.
UNEMBEDDED_SELECT = """
SELECT * FROM (
    SELECT i.id, i.entry_id, i.sha256, i.media_type, i.width, i.height, i.source, i.added_by, i.added_at, NULL, 0
    FROM images i JOIN entries e ON e.id = i.entry_id
    WHERE e.kind = ? AND NOT EXISTS
        (SELECT 1 FROM embeddings m WHERE m.image_id = i.id AND m.model_version = ?)
    UNION ALL
    SELECT i.id, i.entry_id, i.sha256, i.media_type, i.width, i.height, i.source, i.added_by, i.added_at, NULL, 1
    FROM negatives i JOIN entries e ON e.id = i.entry_id
    WHERE e.kind = ? AND NOT EXISTS
        (SELECT 1 FROM negative_embeddings m WHERE m.negative_id = i.id AND m.model_version = ?)
) AS unembedded ORDER BY 11, 1
"""


def entry(row: Sequence[Any]) -> Entry:
    """An ``ENTRY_SELECT`` row as an ``Entry``."""
    return Entry(
        id=row[0],
        kind=row[1],
        label=row[2],
        notes=row[3],
        threshold=row[4],
        cameras=tuple(_json(row[5])),
        enabled=bool(row[6]),
        created_at=_time(row[7]),
        updated_at=_time(row[8]),
        image_count=int(row[9]),
    )


def image(row: Sequence[Any], *, negative: bool = False) -> StoredImage:
    """An ``IMAGE_SELECT`` (or ``NEGATIVE_SELECT``) row as a ``StoredImage``."""
    return StoredImage(
        negative=negative,
        id=int(row[0]),
        entry_id=row[1],
        sha256=row[2],
        media_type=row[3],
        width=int(row[4]),
        height=int(row[5]),
        source=row[6],
        added_by=row[7],
        added_at=_time(row[8]),
        model_versions=tuple(sorted(row[9].split("\n"))) if row[9] else (),
    )


def audit_record(row: Sequence[Any]) -> AuditRecord:
    """An ``audit_log`` row (id, at, actor, action, entry_id, detail) as an ``AuditRecord``."""
    return AuditRecord(
        id=int(row[0]),
        at=_time(row[1]),
        actor=row[2],
        action=row[3],
        entry_id=row[4],
        detail=_json(row[5]),
    )


def _time(value: str | datetime) -> datetime:
    """A stored time: ISO 8601 text (SQLite) or a ``timestamptz`` already read as a ``datetime`` (PostgreSQL)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _json(value: Any) -> Any:
    """A stored JSON document: text (SQLite) or a ``jsonb`` value already decoded (PostgreSQL)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def embedding_set(
    kind: Kind,
    model_version: str,
    revision: int,
    entries: tuple[Entry, ...],
    vector_rows: list[Sequence[Any]],
    negative_rows: Sequence[Sequence[Any]] = (),
) -> EmbeddingSet:
    """``VECTOR_SELECT`` and ``NEGATIVE_VECTOR_SELECT`` rows as one ``EmbeddingSet``; one dimension for all rows."""
    dims = {int(r[2]) for r in [*vector_rows, *negative_rows]}
    if len(dims) > 1:
        raise EmbeddingMismatchError(f"model {model_version} has embeddings of several dimensions: {sorted(dims)}")
    dim = dims.pop() if dims else 0
    return EmbeddingSet(
        kind=kind,
        model_version=model_version,
        revision=revision,
        entries=entries,
        image_ids=np.array([r[0] for r in vector_rows], dtype=np.int64),
        entry_ids=tuple(r[1] for r in vector_rows),
        vectors=_matrix(vector_rows, dim),
        negative_entry_ids=tuple(r[1] for r in negative_rows),
        negative_vectors=_matrix(negative_rows, dim),
    )


def _matrix(vector_rows: Sequence[Sequence[Any]], dim: int) -> np.ndarray:
    """The vector column of some rows as one (N, dim) native, writable float32 array."""
    stacked = np.frombuffer(b"".join(r[3] for r in vector_rows), dtype=VECTOR_DTYPE)
    return stacked.reshape(len(vector_rows), dim).astype(np.float32)


_IMAGE_COLUMNS = "{table} (entry_id, sha256, media_type, bytes, width, height, source, added_by, added_at)"
_EMBEDDING_COLUMNS = "{table} ({key}, model_version, dim, vector, created_at)"


def insert_images(
    db: SqlConnection, entry_id: str, images: Sequence[NewImage], actor: str, now: str
) -> tuple[list[StoredImage], list[DuplicateImage]]:
    """Insert each image with its embedding, skipping (and reporting) bytes already stored under any entry.

    Batched so that a big enrollment costs a handful of statements, not four per image (each a round trip on
    PostgreSQL, and each firing its revision trigger): one lookup of the hashes already stored, every check
    (duplicates, in the batch too, and dimensions) before the first insert, then multi-row inserts and one read-back.
    """
    found = select_in(
        db, "SELECT sha256, entry_id, id FROM images WHERE sha256 IN ({values})", [n.sha256 for n in images]
    )
    owners = {row[0]: (row[1], int(row[2])) for row in found}
    duplicates: list[NewImage] = []  # reported against the first copy, stored or in this batch
    fresh: dict[str, NewImage] = {}
    dims: dict[str, int] = {}
    for new in images:
        if new.sha256 in owners or new.sha256 in fresh:
            duplicates.append(new)
            continue
        _check_dim(db, dims, new)
        fresh[new.sha256] = new
    ids = insert_with_embeddings(db, "images", "embeddings", "image_id", entry_id, list(fresh.values()), actor, now)
    owners |= {sha: (entry_id, image_id) for sha, image_id in zip(fresh, ids, strict=True)}
    reported = [DuplicateImage(new.source, new.sha256, *owners[new.sha256]) for new in duplicates]
    return read_back(db, IMAGE_SELECT, ids, image), reported


def insert_with_embeddings(
    db: SqlConnection,
    table: str,
    embedding_table: str,
    key: str,
    entry_id: str,
    images: Sequence[NewImage],
    actor: str,
    now: str,
) -> list[int]:
    """Insert checked ``images`` of an entry into ``table`` (``images`` or ``negatives``) and each one's embedding into
    ``embedding_table`` (keyed by ``key``), in multi-row statements; the new ids, in the order of ``images``."""
    image_rows = [(entry_id, n.sha256, n.media_type, n.data, n.width, n.height, n.source, actor, now) for n in images]
    new_ids = dict(insert_rows_returning(db, _IMAGE_COLUMNS.format(table=table), image_rows, "sha256, id"))
    ids = [int(new_ids[n.sha256]) for n in images]
    embedding_rows = [
        (image_id, n.model_version, n.embedding.size, n.embedding.astype(VECTOR_DTYPE).tobytes(), now)
        for image_id, n in zip(ids, images, strict=True)
    ]
    insert_rows(db, _EMBEDDING_COLUMNS.format(table=embedding_table, key=key), embedding_rows)
    return ids


def read_back(
    db: SqlConnection, select: str, ids: Sequence[int], convert: Callable[[Sequence[Any]], StoredImage]
) -> list[StoredImage]:
    """The rows just inserted with these ids, as ``select`` (``IMAGE_SELECT``'s shape) reads them, in ``ids`` order."""
    found = select_in(db, select.format(where="WHERE i.id IN ({values})"), ids)
    by_id = {int(row[0]): convert(row) for row in found}
    return [by_id[i] for i in ids]


def check_dim(db: SqlConnection, dims: dict[str, int], model_version: str, size: int, source: str) -> None:
    """One model version has one dimension: a mismatch means a different model under the same name."""
    if model_version not in dims:
        found = db.execute(
            "SELECT dim FROM embeddings WHERE model_version = ?"
            " UNION ALL SELECT dim FROM negative_embeddings WHERE model_version = ? LIMIT 1",
            (model_version, model_version),
        )
        row = found.fetchone()
        dims[model_version] = int(row[0]) if row else size
    if size != dims[model_version]:
        raise EmbeddingMismatchError(
            f"{source}: embedding has {size} dimensions, model {model_version} has {dims[model_version]}"
        )


def _check_dim(db: SqlConnection, dims: dict[str, int], new: NewImage) -> None:
    check_dim(db, dims, new.model_version, new.embedding.size, new.source)


def append_audit(db: SqlConnection, actor: str, action: str, entry_id: str | None, detail: dict[str, Any]) -> None:
    """Append one audit row, in the caller's transaction so the record and the change commit together."""
    db.execute(
        "INSERT INTO audit_log (at, actor, action, entry_id, detail) VALUES (?, ?, ?, ?, ?)",
        (
            datetime.now(UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            entry_id,
            json.dumps(detail, sort_keys=True),
        ),
    )


_IMAGE_TABLES = ("embeddings", "image_id", "images")
_NEGATIVE_TABLES = ("negative_embeddings", "negative_id", "negatives")


def insert_embeddings(
    db: SqlConnection, model_version: str, embeddings: Sequence[NewEmbedding], now: str
) -> tuple[int, int]:
    """Add embeddings by ``model_version`` to stored images and negatives.

    Rows whose image was removed meanwhile, or which another process embedded meanwhile, are skipped rather than
    failing the whole batch: re-embedding runs beside a live service and admins.

    Returns:
        How many image and negative embeddings were written.
    """
    dims: dict[str, int] = {}
    for new in embeddings:
        check_dim(db, dims, model_version, new.vector.size, f"image {new.image_id}")
    written = []
    for negative, (table, key, owner) in ((False, _IMAGE_TABLES), (True, _NEGATIVE_TABLES)):
        wanted = [new for new in embeddings if bool(new.negative) == negative]
        found = select_in(db, f"SELECT id FROM {owner} WHERE id IN ({{values}})", [new.image_id for new in wanted])
        present = {int(row[0]) for row in found}  # checked under the write lock, so it stays true until commit
        values = [
            (new.image_id, model_version, new.vector.size, new.vector.astype(VECTOR_DTYPE).tobytes(), now)
            for new in wanted
            if new.image_id in present
        ]
        written.append(
            insert_rows(db, _EMBEDDING_COLUMNS.format(table=table, key=key), values, "ON CONFLICT DO NOTHING")
        )
    return written[0], written[1]
