"""The watchlist's source of truth: entries, their reference images and embeddings, and an audit log, in SQLite.

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
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchlists import rows
from watchlists.database import WatchlistDatabase
from watchlists.errors import (
    AmbiguousEntryIdError,
    EntryNotFoundError,
    NoNewImagesError,
)
from watchlists.records import (
    AuditRecord,
    DuplicateImage,
    EmbeddingSet,
    Entry,
    NewImage,
    StoredImage,
    WriteResult,
    check_entry_fields,
    check_kind,
)


class WatchlistStore:
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

    def revision(self) -> int:
        """A counter that grows with every committed change; cheap enough to poll before each search."""
        with self._db.read() as db:
            return int(db.execute("SELECT value FROM revision").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------------------------------

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
    ) -> WriteResult:
        """Create an entry with its images and their embeddings, atomically.

        Images whose bytes are already stored (under any entry) are reported in ``duplicates`` and skipped.

        Raises:
            InvalidEntryError: the label, threshold or a camera name is unusable.
            NoNewImagesError: no image is left to store (an entry without images could never match).
            EmbeddingMismatchError: an embedding's dimension differs from what its model already has stored.
        """
        check_entry_fields(label, threshold, cameras)
        entry_id = uuid.uuid4().hex
        now = _now()
        fields = (entry_id, check_kind(kind), label, notes, threshold, json.dumps(list(cameras)), now, now)
        with self._db.write() as db:
            db.execute(
                "INSERT INTO entries (id, kind, label, notes, threshold, cameras, enabled, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                fields,
            )
            added, duplicates = rows.insert_images(db, entry_id, images, actor, now)
            if not added:
                raise NoNewImagesError(_nothing_new(images, duplicates))
            detail = {"kind": kind, "label": label, "threshold": threshold, "cameras": list(cameras)}
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

    # -- reads ----------------------------------------------------------------------------------------------------

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
        """The entry's images, in the order they were added."""
        with self._db.read() as db:
            self._entry(db, entry_id)
            return [
                rows.image(r) for r in db.execute(rows.IMAGE_SELECT.format(where="WHERE i.entry_id = ?"), (entry_id,))
            ]

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

    def image_bytes(self, image_id: int) -> bytes:
        """The encoded bytes of a stored image, as they were received."""
        with self._db.read() as db:
            row = db.execute("SELECT bytes FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no watchlist image with id {image_id}", code="image_not_found")
        return bytes(row[0])

    def embeddings(self, kind: str, model_version: str, *, enabled_only: bool = True) -> EmbeddingSet:
        """The entries of a kind and their embeddings by one model, read consistently at one revision."""
        with self._db.read() as db:
            revision = int(db.execute("SELECT value FROM revision").fetchone()[0])
            where, args = "WHERE e.kind = ?" + (" AND e.enabled = 1" if enabled_only else ""), (check_kind(kind),)
            entries = tuple(rows.entry(r) for r in db.execute(rows.ENTRY_SELECT.format(where=where), args))
            cursor = db.execute(rows.VECTOR_SELECT.format(where=where), (model_version, *args))
            return rows.embedding_set(kind, model_version, revision, entries, cursor.fetchall())

    def audit(self, entry_id: str | None = None, *, limit: int | None = None) -> list[AuditRecord]:
        """Audit rows, newest first (of one entry when given, including after it was removed)."""
        with self._db.read() as db:
            where, args = ("WHERE entry_id = ?", [entry_id]) if entry_id else ("", [])
            sql = f"SELECT id, at, actor, action, entry_id, detail FROM audit_log {where} ORDER BY id DESC"
            if limit is not None:
                sql, args = sql + " LIMIT ?", [*args, limit]
            return [rows.audit_record(r) for r in db.execute(sql, args)]

    # -- internals ------------------------------------------------------------------------------------------------

    @staticmethod
    def _entry(db: sqlite3.Connection, entry_id: str) -> Entry:
        row = db.execute(rows.ENTRY_SELECT.format(where="WHERE e.id = ?"), (entry_id,)).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no watchlist entry with id {entry_id!r}")
        return rows.entry(row)


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
