"""The watchlist's source of truth: entries, their reference images, negative examples and embeddings, and an audit
log, in SQLite (one node) or PostgreSQL (several nodes). This module holds the writes; the reads live in
``watchlists.reads``; the engines live in ``watchlists.database_*``.

Every write is one transaction that holds the only write lock from its start (SQLite's ``BEGIN IMMEDIATE``, a
table lock on PostgreSQL) and also appends its audit row, so an enrollment (entry, images, embeddings) is all there
or not there at all, even after ``kill -9`` mid-write. Readers in other processes and on other nodes never block
on writers and notice changes through ``revision()``, a counter that triggers bump inside the writing transaction.
One connection per store, shared by threads under a lock.

Example:
    >>> with WatchlistStore("data/watchlist.db") as store:  # or "postgresql://vigil@db:5432/vigil"
    ...     result = store.create_entry("anomaly", "fire", images, actor="cli:alice")
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from watchlists import negative_rows, rows
from watchlists.adaptation import Adaptation
from watchlists.database import open_database
from watchlists.errors import EntryNotFoundError, LastImageError, NoNewImagesError
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


class Keep(Enum):
    """``update_entry``'s "leave this field as it is", where ``None`` is itself a value (the default threshold)."""

    KEEP = "keep"


class WatchlistStore(WatchlistReads):
    """The watchlist on SQLite or PostgreSQL; safe to share between threads, and between processes and nodes through
    the database.

    Args:
        database: a SQLite file (it and its folder are created when missing), or a ``postgresql://`` URL (the
            password from the URL, ``PGPASSWORD`` or ``password_file``). The
            schema is migrated either way.
        password_file: PostgreSQL only: a file holding the password (a mounted secret), read at each connect.
        busy_timeout_s: how long a write waits for another process's (or node's) write to finish.

    Attributes:
        location: where the database is, fit for logs (a URL's password left out).

    Raises:
        StoreError: the database cannot be opened, reached or migrated.
    """

    def __init__(
        self, database: Path | str, *, password_file: Path | None = None, busy_timeout_s: float = 10.0
    ) -> None:
        self._db = open_database(database, password_file=password_file, busy_timeout_s=busy_timeout_s)
        self.location = self._db.location

    def close(self) -> None:
        """Close the connection; committed data is safe whether or not this runs."""
        self._db.close()

    def __repr__(self) -> str:
        return f"WatchlistStore({self.location!r})"

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
        check_entry_fields(label, threshold, cameras, notes)
        entry_id = entry_id or uuid.uuid4().hex
        now = _now()
        fields = (
            entry_id,
            check_kind(kind),
            label,
            notes,
            threshold,
            json.dumps(list(cameras)),
            bool(enabled),
            now,
            now,
        )
        with self._db.write() as db:
            db.execute(
                "INSERT INTO entries (id, kind, label, notes, threshold, cameras, enabled, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def update_entry(
        self,
        entry_id: str,
        *,
        actor: str,
        label: str | None = None,
        notes: str | None = None,
        threshold: float | Keep | None = Keep.KEEP,
        cameras: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> Entry:
        """Tune an entry in one transaction: what is given changes, the rest stays (``threshold=None`` returns to the
        kind's default). The audit row holds each changed field's old and new value; a request that changes nothing
        writes nothing.

        Raises:
            EntryNotFoundError: no such entry.
            InvalidEntryError: the label, threshold or a camera name is unusable.
        """
        with self._db.write() as db:
            entry = self._entry(db, entry_id)
            wanted = {
                "label": entry.label if label is None else label,
                "notes": entry.notes if notes is None else notes,
                "threshold": entry.threshold if threshold is Keep.KEEP else threshold,
                "cameras": entry.cameras if cameras is None else tuple(cameras),
                "enabled": entry.enabled if enabled is None else bool(enabled),
            }
            check_entry_fields(wanted["label"], wanted["threshold"], wanted["cameras"], wanted["notes"])
            changes = {
                name: [_plain(getattr(entry, name)), _plain(value)]
                for name, value in wanted.items()
                if value != getattr(entry, name)
            }
            if not changes:
                return entry
            db.execute(
                "UPDATE entries SET label = ?, notes = ?, threshold = ?, cameras = ?, enabled = ?, updated_at = ?"
                " WHERE id = ?",
                (
                    wanted["label"],
                    wanted["notes"],
                    wanted["threshold"],
                    json.dumps(list(wanted["cameras"])),
                    wanted["enabled"],
                    _now(),
                    entry_id,
                ),
            )
            rows.append_audit(db, actor, "entry.updated", entry_id, {"changes": changes})
            return self._entry(db, entry_id)

    def save_adaptation(self, adaptation: Adaptation, *, actor: str, keep: int = 3) -> None:
        """Store a trained adaptation (it serves at once on every node) and drop all but the newest ``keep`` of its
        kind and model; the audit row records what it learnt and how it validated."""
        with self._db.write() as db:
            db.execute(
                "INSERT INTO adaptations (kind, model_version, version, watchlist_revision, data_digest, trained_at,"
                " artefact) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    check_kind(adaptation.kind),
                    adaptation.model_version,
                    adaptation.version,
                    adaptation.watchlist_revision,
                    adaptation.data_digest,
                    _now(),
                    adaptation.to_bytes(),
                ),
            )
            db.execute(
                "DELETE FROM adaptations WHERE kind = ? AND model_version = ? AND id NOT IN"
                " (SELECT id FROM adaptations WHERE kind = ? AND model_version = ? ORDER BY id DESC LIMIT ?)",
                (adaptation.kind, adaptation.model_version, adaptation.kind, adaptation.model_version, keep),
            )
            rows.append_audit(db, actor, "adaptation.trained", None, adaptation.summary())

    def remove_image(self, entry_id: str, image_id: int, *, actor: str, negative: bool = False) -> StoredImage:
        """Delete one reference image (or, with ``negative``, one negative example) with its embeddings.

        Indexes drop its vectors on their next sync (the deletion bumps the revision); the audit row keeps the
        image's SHA-256 and source.

        Raises:
            EntryNotFoundError: no such entry, or it has no such image (code ``image_not_found``).
            LastImageError: it is the entry's last reference image (an entry without one could never match).
        """
        table, what = ("negatives", "negative example") if negative else ("images", "image")
        with self._db.write() as db:
            self._entry(db, entry_id)
            owned = self._negatives(db, entry_id) if negative else self._images(db, entry_id)
            image = next((i for i in owned if i.id == image_id), None)
            if image is None:
                raise EntryNotFoundError(f"entry {entry_id!r} has no {what} {image_id}", code="image_not_found")
            if not negative and len(owned) == 1:
                raise LastImageError(
                    f"image {image_id} is the last reference image of entry {entry_id!r}; remove the entry instead"
                )
            db.execute(f"DELETE FROM {table} WHERE id = ? AND entry_id = ?", (image_id, entry_id))
            db.execute("UPDATE entries SET updated_at = ? WHERE id = ?", (_now(), entry_id))
            detail = {"image_id": image.id, "sha256": image.sha256, "source": image.source}
            rows.append_audit(db, actor, f"{table}.removed", entry_id, detail)
            return image

    def remove_entry(self, entry_id: str, *, actor: str) -> Entry:
        """Delete an entry with its images and embeddings; the audit log keeps what was removed."""
        with self._db.write() as db:
            entry = self._entry(db, entry_id)
            hashes = [r[0] for r in db.execute("SELECT sha256 FROM images WHERE entry_id = ? ORDER BY id", (entry_id,))]
            db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            detail = {"kind": entry.kind, "label": entry.label, "sha256": hashes}
            rows.append_audit(db, actor, "entry.removed", entry_id, detail)
            return entry


def _plain(value: object) -> object:
    """A field's value as the audit log's JSON holds it."""
    return list(value) if isinstance(value, tuple) else value


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
