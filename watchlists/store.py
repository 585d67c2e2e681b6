"""The watchlist's source of truth: entries, their reference images, negative examples and embeddings, and an audit
log, in SQLite. This module holds the writes; the reads live in ``watchlists.reads``.

Every write is one ``BEGIN IMMEDIATE`` transaction that also appends its audit row, so an enrollment (entry, images,
embeddings) is all there or not there at all, even after ``kill -9`` mid-write (WAL journal, ``synchronous=FULL``).
Readers in other processes never block on writers (WAL) and notice changes through ``revision()``, a counter that
triggers bump inside the writing transaction. One connection per store, shared by threads under a lock.

Example:
    >>> with WatchlistStore("data/watchlist.db") as store:
    ...     result = store.create_entry("anomaly", "fire", images, actor="cli:alice")
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchlists import negative_rows, rows
from watchlists.database import WatchlistDatabase
from watchlists.errors import NoNewImagesError
from watchlists.reads import WatchlistReads
from watchlists.records import (
    DuplicateImage,
    Entry,
    NewEmbedding,
    NewImage,
    StoredImage,
    WriteResult,
    check_entry_fields,
    check_kind,
)


class WatchlistStore(WatchlistReads):
    """SQLite-backed watchlist; safe to share between threads, and between processes through the file.

    Args:
        path: database file; it and its folder are created when missing, and its schema is migrated.
        busy_timeout_s: how long a write waits for another process's write to finish.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._db = WatchlistDatabase(self.path, busy_timeout_s=busy_timeout_s)

    def close(self) -> None:
        """Close the connection; committed data is safe on disk whether or not this runs."""
        self._db.close()

    def __enter__(self) -> WatchlistStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_entry(
        self,
        kind: str,
        label: str,
        images: Sequence[NewImage],
        *,
        actor: str,
        threshold: float | None = None,
        cameras: Sequence[str] = (),
        notes: str = "",
        enabled: bool = True,
        entry_id: str | None = None,
        origin: str | None = None,
    ) -> WriteResult:
        """Create an entry with its images and their embeddings, atomically.

        Images whose bytes are already stored (under any entry) are reported in ``duplicates`` and skipped.

        Args:
            entry_id: keep this id (an import from another node); a new one by default.
            origin: where the entry came from (an archive), recorded in the audit row.

        Raises:
            InvalidEntryError: the label, threshold or a camera name is unusable.
            NoNewImagesError: no image is left to store (an entry without images could never match).
            EmbeddingMismatchError: an embedding's dimension differs from what its model already has stored.
        """
        check_entry_fields(label, threshold, cameras)
        entry_id = entry_id or uuid.uuid4().hex
        now = _now()
        fields = (entry_id, check_kind(kind), label, notes, threshold, json.dumps(list(cameras)), int(enabled), now)
        with self._db.write() as db:
            db.execute(
                "INSERT INTO entries (id, kind, label, notes, threshold, cameras, enabled, created_at, updated_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                fields,
            )
            added, duplicates = rows.insert_images(db, entry_id, images, actor, now)
            if not added:
                raise NoNewImagesError(_nothing_new(images, duplicates))
            detail = {"kind": kind, "label": label, "threshold": threshold, "cameras": list(cameras)}
            if origin is not None:
                detail |= {"imported_from": origin, "enabled": enabled}
            rows.append_audit(db, actor, "entry.created", entry_id, {**detail, **_images_detail(added, duplicates)})
            return WriteResult(self._entry(db, entry_id), tuple(added), tuple(duplicates))

    def add_images(self, entry_id: str, images: Sequence[NewImage], *, actor: str) -> WriteResult:
        """Add images (with embeddings) to an existing entry, atomically; duplicates are reported and skipped."""
        now = _now()
        with self._db.write() as db:
            self._entry(db, entry_id)
            added, duplicates = rows.insert_images(db, entry_id, images, actor, now)
            if added:
                db.execute("UPDATE entries SET updated_at = ? WHERE id = ?", (now, entry_id))
                rows.append_audit(db, actor, "images.added", entry_id, _images_detail(added, duplicates))
            return WriteResult(self._entry(db, entry_id), tuple(added), tuple(duplicates))

    def add_negatives(self, entry_id: str, images: Sequence[NewImage], *, actor: str) -> WriteResult:
        """Add negative examples ("not this", with embeddings) to an entry, atomically.

        Negatives the entry already has are reported in ``duplicates`` (their ``image_id`` is the negative's id).

        Raises:
            EntryNotFoundError: no entry has this id.
            NegativeConflictError: an image is one of the entry's own references; nothing stored.
        """
        now = _now()
        with self._db.write() as db:
            self._entry(db, entry_id)
            added, skipped = negative_rows.insert_negatives(db, entry_id, images, actor, now)
            if added:
                db.execute("UPDATE entries SET updated_at = ? WHERE id = ?", (now, entry_id))
                rows.append_audit(db, actor, "negatives.added", entry_id, _images_detail(added, skipped))
            return WriteResult(self._entry(db, entry_id), tuple(added), tuple(skipped))

    def add_embeddings(self, model_version: str, embeddings: Sequence[NewEmbedding], *, actor: str) -> int:
        """Store embeddings by a new model for images already stored, all in one transaction.

        One transaction on purpose: an index for ``model_version`` that syncs meanwhile sees the old set or the whole
        new one, never half of a re-embedding. Images removed meanwhile are skipped.

        Returns:
            How many embeddings were written.
        """
        with self._db.write() as db:
            images, negatives = rows.insert_embeddings(db, model_version, embeddings, _now())
            if images or negatives:
                detail = {"model_version": model_version, "images": images, "negatives": negatives}
                rows.append_audit(db, actor, "embeddings.added", None, detail)
            return images + negatives

    def set_enabled(self, entry_id: str, enabled: bool, *, actor: str) -> Entry:
        """Switch an entry on or off without losing its images (a disabled entry never matches)."""
        with self._db.write() as db:
            self._entry(db, entry_id)
            db.execute("UPDATE entries SET enabled = ?, updated_at = ? WHERE id = ?", (int(enabled), _now(), entry_id))
            rows.append_audit(db, actor, "entry.enabled" if enabled else "entry.disabled", entry_id, {})
            return self._entry(db, entry_id)

    def remove_entry(self, entry_id: str, *, actor: str) -> Entry:
        """Delete an entry with its images and embeddings; the audit log keeps what was removed."""
        with self._db.write() as db:
            entry = self._entry(db, entry_id)
            hashes = [r[0] for r in db.execute("SELECT sha256 FROM images WHERE entry_id = ? ORDER BY id", (entry_id,))]
            db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            detail = {"kind": entry.kind, "label": entry.label, "sha256": hashes}
            rows.append_audit(db, actor, "entry.removed", entry_id, detail)
            return entry


def _images_detail(added: Sequence[StoredImage], duplicates: Sequence[DuplicateImage]) -> dict[str, Any]:
    return {
        "image_ids": [img.id for img in added],
        "sha256": [img.sha256 for img in added],
        "duplicates_skipped": [{"sha256": d.sha256, "entry_id": d.entry_id} for d in duplicates],
    }


def _nothing_new(images: Sequence[NewImage], duplicates: Sequence[DuplicateImage]) -> str:
    if not images:
        return "an entry needs at least one image"
    owners = sorted({d.entry_id for d in duplicates})
    return f"all {len(images)} images are already stored (entries: {', '.join(owners)}); nothing created"


def _now() -> str:  # ISO 8601 UTC; sorts as text
    return datetime.now(UTC).isoformat(timespec="microseconds")
