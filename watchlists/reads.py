"""The watchlist's reads: entries, images, negatives, embeddings and the audit log, each in one read transaction.

Kept apart from the writes (``watchlists.store``) so each file reads as one thing; ``WatchlistStore`` is both.
Reads never block on a writer in another process (SQLite's WAL; PostgreSQL's MVCC), and each method sees one
consistent snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from watchlists import rows
from watchlists.adaptation import Adaptation
from watchlists.database import SqlConnection, WatchlistDatabase
from watchlists.embedding_changes import EmbeddingChanges, matrix, read_changes, vectors_of_ids
from watchlists.errors import AmbiguousEntryIdError, EntryNotFoundError
from watchlists.negative_rows import NEGATIVE_SELECT, NEGATIVE_VECTOR_SELECT
from watchlists.records import AuditRecord, EmbeddingSet, Entry, StoredImage, check_kind

log = logging.getLogger(__name__)


class WatchlistReads:
    """Read access to an open watchlist database; subclassed by ``WatchlistStore``, which adds the writes."""

    _db: WatchlistDatabase

    def revision(self) -> int:
        """A counter that grows with every committed change; cheap enough to poll before each search."""
        with self._db.read() as db:
            return int(db.execute("SELECT value FROM revision").fetchone()[0])

    def get_entry(self, entry_id: str) -> Entry:
        """The entry with this exact id. Raises ``EntryNotFoundError``."""
        with self._db.read() as db:
            return self._entry(db, entry_id)

    def resolve_entry_id(self, prefix: str) -> str:
        """The full id of the one entry whose id starts with ``prefix`` (admins type a few characters)."""
        with self._db.read() as db:
            pattern = prefix.lower().replace("%", "").replace("_", "") + "%"
            found = [r[0] for r in db.execute("SELECT id FROM entries WHERE id LIKE ? LIMIT 2", (pattern,))]
        if not prefix or not found:
            raise EntryNotFoundError(f"no watchlist entry with id {prefix!r}")
        if len(found) > 1:
            raise AmbiguousEntryIdError(f"id prefix {prefix!r} matches several entries; give more characters")
        return found[0]

    def list_entries(self, kind: str | None = None) -> list[Entry]:
        """Every entry (of one kind when given), oldest first."""
        with self._db.read() as db:
            where, args = ("WHERE e.kind = ?", (check_kind(kind),)) if kind else ("", ())
            return [rows.entry(r) for r in db.execute(rows.ENTRY_SELECT.format(where=where), args)]

    def entry_images(self, entry_id: str) -> list[StoredImage]:
        """The entry's reference images, in the order they were added."""
        with self._db.read() as db:
            self._entry(db, entry_id)
            return self._images(db, entry_id)

    def entry_negatives(self, entry_id: str) -> list[StoredImage]:
        """The entry's negative examples ("not this"), in the order they were added."""
        with self._db.read() as db:
            self._entry(db, entry_id)
            return self._negatives(db, entry_id)

    def find_images(self, sha256s: Sequence[str]) -> dict[str, StoredImage]:
        """Stored images among these hashes, by hash: lets enrollment skip embedding what is already stored."""
        with self._db.read() as db:
            found: dict[str, StoredImage] = {}
            for start in range(0, len(sha256s), 500):
                chunk = list(sha256s[start : start + 500])
                where = f"WHERE i.sha256 IN ({', '.join('?' * len(chunk))})"
                found.update(
                    (img.sha256, img)
                    for img in map(rows.image, db.execute(rows.IMAGE_SELECT.format(where=where), chunk))
                )
            return found

    def image_bytes(self, image_id: int, *, negative: bool = False) -> bytes:
        """The encoded bytes of a stored image (or negative), as they were received."""
        table = "negatives" if negative else "images"
        with self._db.read() as db:
            row = db.execute(f"SELECT bytes FROM {table} WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no watchlist image with id {image_id}", code="image_not_found")
        return bytes(row[0])

    def embeddings(self, kind: str, model_version: str, *, enabled_only: bool = True) -> EmbeddingSet:
        """The entries of a kind and their embeddings (negatives too) by one model, read at one revision."""
        with self._db.read() as db:
            revision = int(db.execute("SELECT value FROM revision").fetchone()[0])
            where, args = "WHERE e.kind = ?" + (" AND e.enabled" if enabled_only else ""), (check_kind(kind),)
            entries = tuple(rows.entry(r) for r in db.execute(rows.ENTRY_SELECT.format(where=where), args))
            vectors = db.execute(rows.VECTOR_SELECT.format(where=where), (model_version, *args)).fetchall()
            negatives = db.execute(NEGATIVE_VECTOR_SELECT.format(where=where), (model_version, *args)).fetchall()
            return rows.embedding_set(kind, model_version, revision, entries, vectors, negatives)

    def embedding_changes(self, kind: str, model_version: str, *, known: np.ndarray | None = None) -> EmbeddingChanges:
        """What an index holding the vectors of ``known`` image ids (ascending) lacks, read at one revision.

        The entries and the ids are read whole (small); only the vectors of ids not in ``known`` are fetched, so an
        index follows a change to a large watchlist without re-reading every vector. ``known=None`` fetches all.
        """
        held = np.empty(0, dtype=np.int64) if known is None else np.asarray(known, dtype=np.int64)
        with self._db.read() as db:
            return read_changes(db, check_kind(kind), model_version, held)

    def embeddings_for(self, model_version: str, image_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found ascending, their (K, dim) float32 vectors) by ``model_version``; ids without one are left out."""
        with self._db.read() as db:
            found = vectors_of_ids(db, model_version, image_ids)
        dim = int(found[0][1]) if found else 0
        return np.array([r[0] for r in found], dtype=np.int64), matrix([r[2] for r in found], dim)

    def identity(self) -> str:
        """A name for this database's history: the time of its first audit row ("" while nothing was written).

        A saved index records it, so an index file is never applied to another watchlist whose image ids only
        happen to overlap. Copies of one database share it (and their image ids and vectors agree, up to the copy).
        """
        with self._db.read() as db:
            row = db.execute("SELECT at FROM audit_log ORDER BY id LIMIT 1").fetchone()
        return "" if row is None else str(row[0])

    def unembedded(self, kind: str, model_version: str) -> list[StoredImage]:
        """Images and negatives of a kind without an embedding by ``model_version``: what a model change re-embeds."""
        with self._db.read() as db:
            kind = check_kind(kind)
            found = db.execute(rows.UNEMBEDDED_SELECT, (kind, model_version, kind, model_version))
            return [rows.image(r, negative=bool(r[10])) for r in found]

    def adaptation_version(self, kind: str, model_version: str) -> str | None:
        """The newest adaptation's version for a kind and model, or ``None``: cheap enough to poll."""
        with self._db.read() as db:
            row = db.execute(
                "SELECT version FROM adaptations WHERE kind = ? AND model_version = ? ORDER BY id DESC LIMIT 1",
                (check_kind(kind), model_version),
            ).fetchone()
        return None if row is None else str(row[0])

    def latest_adaptation(self, kind: str, model_version: str) -> Adaptation | None:
        """The newest adaptation for a kind and model, or ``None`` when none was trained (or it is unreadable,
        which the caller treats alike: matching falls back to cosine)."""
        with self._db.read() as db:
            row = db.execute(
                "SELECT artefact FROM adaptations WHERE kind = ? AND model_version = ? ORDER BY id DESC LIMIT 1",
                (check_kind(kind), model_version),
            ).fetchone()
        if row is None:
            return None
        try:
            return Adaptation.from_bytes(bytes(row[0]))
        except ValueError as exc:
            log.warning("stored %s adaptation for %s is unreadable, matching by cosine: %s", kind, model_version, exc)
            return None

    def audit(self, entry_id: str | None = None, *, limit: int | None = None) -> list[AuditRecord]:
        """Audit rows, newest first (of one entry when given, including after it was removed)."""
        with self._db.read() as db:
            where, args = ("WHERE entry_id = ?", [entry_id]) if entry_id else ("", [])
            sql = f"SELECT id, at, actor, action, entry_id, detail FROM audit_log {where} ORDER BY id DESC"
            if limit is not None:
                sql, args = sql + " LIMIT ?", [*args, limit]
            return [rows.audit_record(r) for r in db.execute(sql, args)]

    @staticmethod
    def _images(db: SqlConnection, entry_id: str) -> list[StoredImage]:
        query = rows.IMAGE_SELECT.format(where="WHERE i.entry_id = ?")
        return [rows.image(r) for r in db.execute(query, (entry_id,))]

    @staticmethod
    def _negatives(db: SqlConnection, entry_id: str) -> list[StoredImage]:
        query = NEGATIVE_SELECT.format(where="WHERE i.entry_id = ?")
        return [rows.image(r, negative=True) for r in db.execute(query, (entry_id,))]

    @staticmethod
    def _entry(db: SqlConnection, entry_id: str) -> Entry:
        row = db.execute(rows.ENTRY_SELECT.format(where="WHERE e.id = ?"), (entry_id,)).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no watchlist entry with id {entry_id!r}")
        return rows.entry(row)
