"""Negative examples ("not this") to and from database rows (the SQL shared by both engines, as in ``rows``).

A negative belongs to one entry and is stored once per entry; the same bytes may be another entry's reference or
another entry's negative. The one combination refused is an entry's own reference given as its negative: the
entry would then veto itself on exactly the image it was enrolled from. Every function runs inside a transaction
the store opened.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from watchlists.batched_sql import select_in
from watchlists.database import SqlConnection
from watchlists.errors import NegativeConflictError
from watchlists.records import DuplicateImage, NewImage, StoredImage
from watchlists.rows import check_dim, image, insert_with_embeddings, read_back

NEGATIVE_SELECT = """
SELECT i.id, i.entry_id, i.sha256, i.media_type, i.width, i.height, i.source, i.added_by, i.added_at,
       (SELECT string_agg(m.model_version, '\n') FROM negative_embeddings m WHERE m.negative_id = i.id)
FROM negatives i {where} ORDER BY i.id
"""


# Parameters: the model version first, then those of ``where`` (which filters on ``e``, the entries).
NEGATIVE_VECTOR_SELECT = """
SELECT m.negative_id, i.entry_id, m.dim, m.vector
FROM negative_embeddings m
JOIN negatives i ON i.id = m.negative_id AND m.model_version = ?
JOIN entries e ON e.id = i.entry_id
{where} ORDER BY m.negative_id
"""


def insert_negatives(
    db: SqlConnection, entry_id: str, images: Sequence[NewImage], actor: str, now: str
) -> tuple[list[StoredImage], list[DuplicateImage]]:
    """Insert each negative with its embedding, skipping (and reporting) those the entry already has.

    Batched as ``rows.insert_images`` is: every check before the first insert, then multi-row inserts.

    Raises:
        NegativeConflictError: an image is one of the entry's own references (nothing of this call is kept: the
            caller's transaction rolls back).
        EmbeddingMismatchError: an embedding's dimension differs from what its model already has stored.
    """
    own = _ids_by_sha256(db, "images", entry_id, [new.sha256 for new in images])
    stored = _ids_by_sha256(db, "negatives", entry_id, [new.sha256 for new in images])
    skipped: list[NewImage] = []
    fresh: dict[str, NewImage] = {}
    dims: dict[str, int] = {}
    for new in images:
        if new.sha256 in own:
            raise NegativeConflictError(
                f"{new.source} is reference image {own[new.sha256]} of entry {entry_id}; it cannot also be its negative"
            )
        if new.sha256 in stored or new.sha256 in fresh:
            skipped.append(new)
            continue
        check_dim(db, dims, new.model_version, new.embedding.size, new.source)
        fresh[new.sha256] = new
    ids = insert_with_embeddings(
        db, "negatives", "negative_embeddings", "negative_id", entry_id, list(fresh.values()), actor, now
    )
    stored |= {n.sha256: negative_id for negative_id, n in zip(ids, fresh.values(), strict=True)}
    added = read_back(db, NEGATIVE_SELECT, ids, functools.partial(image, negative=True))
    return added, [DuplicateImage(new.source, new.sha256, entry_id, stored[new.sha256]) for new in skipped]


def _ids_by_sha256(db: SqlConnection, table: str, entry_id: str, hashes: Sequence[str]) -> dict[str, int]:
    """Which of these hashes the entry already has in ``table`` (``images`` or ``negatives``), with their ids."""
    sql = f"SELECT sha256, id FROM {table} WHERE entry_id = ? AND sha256 IN ({{values}})"
    return {row[0]: int(row[1]) for row in select_in(db, sql, hashes, (entry_id,))}
