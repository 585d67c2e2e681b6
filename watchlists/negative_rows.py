"""Negative examples ("not this") to and from database rows (the SQL shared by both engines, as in ``rows``).

A negative belongs to one entry and is stored once per entry; the same bytes may be another entry's reference or
another entry's negative. The one combination refused is an entry's own reference given as its negative: the
entry would then veto itself on exactly the image it was enrolled from. Every function runs inside a transaction
the store opened.
"""

from __future__ import annotations

from collections.abc import Sequence

from watchlists.database import SqlConnection
from watchlists.errors import NegativeConflictError
from watchlists.records import DuplicateImage, NewImage, StoredImage
from watchlists.rows import VECTOR_DTYPE, check_dim, image, inserted_id

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


def negative(db: SqlConnection, negative_id: int) -> StoredImage:
    """The stored negative with this id (which must exist: it was just written or read)."""
    row = db.execute(NEGATIVE_SELECT.format(where="WHERE i.id = ?"), (negative_id,)).fetchone()
    return image(row, negative=True)


def insert_negatives(
    db: SqlConnection, entry_id: str, images: Sequence[NewImage], actor: str, now: str
) -> tuple[list[StoredImage], list[DuplicateImage]]:
    """Insert each negative with its embedding, skipping (and reporting) those the entry already has.

    Raises:
        NegativeConflictError: an image is one of the entry's own references (nothing of this call is kept: the
            caller's transaction rolls back).
        EmbeddingMismatchError: an embedding's dimension differs from what its model already has stored.
    """
    added: list[StoredImage] = []
    skipped: list[DuplicateImage] = []
    dims: dict[str, int] = {}
    for new in images:
        own = db.execute("SELECT id FROM images WHERE sha256 = ? AND entry_id = ?", (new.sha256, entry_id)).fetchone()
        if own is not None:
            raise NegativeConflictError(
                f"{new.source} is reference image {own[0]} of entry {entry_id}; it cannot also be its negative"
            )
        found = db.execute(
            "SELECT id FROM negatives WHERE sha256 = ? AND entry_id = ?", (new.sha256, entry_id)
        ).fetchone()
        if found is not None:
            skipped.append(DuplicateImage(new.source, new.sha256, entry_id, int(found[0])))
            continue
        check_dim(db, dims, new.model_version, new.embedding.size, new.source)
        negative_id = inserted_id(
            db.execute(
                "INSERT INTO negatives (entry_id, sha256, media_type, bytes, width, height, source, added_by, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (entry_id, new.sha256, new.media_type, new.data, new.width, new.height, new.source, actor, now),
            )
        )
        db.execute(
            "INSERT INTO negative_embeddings (negative_id, model_version, dim, vector, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (negative_id, new.model_version, new.embedding.size, new.embedding.astype(VECTOR_DTYPE).tobytes(), now),
        )
        added.append(negative(db, negative_id))
    return added, skipped
