"""The unknown-face clusters of a node: SQLite (``data/unknown.db``) plus each cluster's best crops as JPEG files.

One writer (the pipeline's ``UnknownFaceClusterer``) adds and updates clusters; readers (the API, the CLI) list
them, serve crops and mark a cluster promoted, each on its own connection (WAL, so a read never waits on a write).
A cluster's number comes from ``AUTOINCREMENT`` and is never reused, so ``unknown-<n>`` names one stranger for good,
even after retention removed older clusters.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from engines.errors import VigilError
from streamer.config import StorageConfig

PREFIX = "unknown-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    centroid BLOB NOT NULL,
    count INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    cameras TEXT NOT NULL,
    best_confidence REAL NOT NULL,
    promoted_entry TEXT,
    promoted_by TEXT,
    promoted_at TEXT
);
CREATE TABLE IF NOT EXISTS crops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster INTEGER NOT NULL REFERENCES clusters(n) ON DELETE CASCADE,
    rank REAL NOT NULL,
    confidence REAL NOT NULL,
    camera TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crops_by_cluster ON crops(cluster, rank);
CREATE INDEX IF NOT EXISTS clusters_by_last_seen ON clusters(last_seen);
"""


class UnknownFaceError(VigilError):
    """No cluster (or crop) has the given id; ``code`` is ``unknown_not_found`` or ``crop_not_found``."""

    code = "unknown_not_found"


@dataclass(frozen=True)
class UnknownCrop:
    """One kept crop of a cluster: the face with a margin, as seen by one camera."""

    id: int
    rank: float  # face size (px) x detector confidence: how good a reference it makes
    confidence: float
    camera: str
    seen_at: datetime


@dataclass(frozen=True)
class UnknownCluster:
    """One stranger, as the node has seen them (``id`` is ``unknown-<n>``, best crop first)."""

    n: int
    count: int
    first_seen: datetime
    last_seen: datetime
    cameras: tuple[str, ...]
    best_confidence: float
    crops: tuple[UnknownCrop, ...] = ()
    promoted_entry: str | None = None
    promoted_by: str | None = None
    promoted_at: datetime | None = None

    @property
    def id(self) -> str:
        return cluster_id(self.n)

    @property
    def label(self) -> str:
        return cluster_label(self.n)


def unknown_db_path(storage: StorageConfig) -> Path:
    """The node's clusters live beside its snapshots: ``data/unknown.db``, crops under ``data/unknown/``."""
    return storage.snapshots.parent / "unknown.db"


def cluster_id(n: int) -> str:
    return f"{PREFIX}{n}"


def cluster_label(n: int) -> str:
    """How alerts and lists name cluster ``n``."""
    return f"Unknown {n}"


def cluster_number(cluster_id: str) -> int:
    """``unknown-7`` -> 7.

    Raises:
        UnknownFaceError: ``unknown_not_found`` when the id is not of that form.
    """
    digits = cluster_id.removeprefix(PREFIX)
    if not cluster_id.startswith(PREFIX) or not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise UnknownFaceError(f"no unknown face {cluster_id[:40]!r}: ids look like unknown-<n>")
    return int(digits)


class UnknownFaceStore:
    """Clusters in SQLite, crops as ``<crops_dir>/<n>/<crop id>.jpg``.

    Args:
        path: the database file (created with its folder when missing).
        crops_dir: where crop files go (default: ``unknown`` beside the database).
    """

    def __init__(self, path: Path, crops_dir: Path | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.crops_dir = crops_dir or path.parent / "unknown"
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> UnknownFaceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def centroids(self, model: str) -> list[tuple[int, np.ndarray, int]]:
        """``(n, unit centroid, count)`` of every cluster embedded by ``model``."""
        with self._lock:
            rows = self._db.execute("SELECT n, centroid, count FROM clusters WHERE model = ? ORDER BY n", (model,))
            return [(n, np.frombuffer(blob, dtype=np.float32).copy(), count) for n, blob, count in rows.fetchall()]

    def create(self, model: str, centroid: np.ndarray, camera: str, seen_at: datetime, confidence: float) -> int:
        """A new cluster of one sighting; returns its number."""
        stamp = _text(seen_at)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO clusters (model, centroid, count, first_seen, last_seen, cameras, best_confidence)"
                " VALUES (?, ?, 1, ?, ?, ?, ?)",
                (model, _blob(centroid), stamp, stamp, json.dumps([camera]), confidence),
            )
            return int(cursor.lastrowid or 0)

    def record(self, n: int, centroid: np.ndarray, camera: str, seen_at: datetime, confidence: float) -> None:
        """One more sighting of cluster ``n``: its new centroid, count, last seen, cameras and best confidence."""
        with self._lock:
            row = self._db.execute("SELECT cameras FROM clusters WHERE n = ?", (n,)).fetchone()
            if row is None:
                return
            cameras = sorted({*json.loads(row[0]), camera})
            self._db.execute(
                "UPDATE clusters SET centroid = ?, count = count + 1, last_seen = max(last_seen, ?), cameras = ?,"
                " best_confidence = max(best_confidence, ?) WHERE n = ?",
                (_blob(centroid), _text(seen_at), json.dumps(cameras), confidence, n),
            )

    def crop_ranks(self, n: int) -> list[float]:
        """Ranks of the crops kept for cluster ``n``, best first."""
        with self._lock:
            rows = self._db.execute("SELECT rank FROM crops WHERE cluster = ? ORDER BY rank DESC", (n,)).fetchall()
        return [rank for (rank,) in rows]

    def add_crop(self, n: int, jpeg: bytes, crop: UnknownCrop, keep: int) -> None:
        """Keep ``jpeg`` as a crop of cluster ``n``, then drop its crops beyond the ``keep`` best (rows and files)."""
        folder = self.crops_dir / str(n)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO crops (cluster, rank, confidence, camera, seen_at) VALUES (?, ?, ?, ?, ?)",
                (n, crop.rank, crop.confidence, crop.camera, _text(crop.seen_at)),
            )
            (folder / f"{cursor.lastrowid}.jpg").write_bytes(jpeg)
            extra = self._db.execute(
                "SELECT id FROM crops WHERE cluster = ? ORDER BY rank DESC, id LIMIT -1 OFFSET ?", (n, keep)
            ).fetchall()
            for (crop_id,) in extra:
                self._db.execute("DELETE FROM crops WHERE id = ?", (crop_id,))
                (folder / f"{crop_id}.jpg").unlink(missing_ok=True)

    def clusters(self, *, include_promoted: bool = True) -> list[UnknownCluster]:
        """Every cluster, most recently seen first."""
        where = "" if include_promoted else " WHERE promoted_entry IS NULL"
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM clusters{where} ORDER BY last_seen DESC, n DESC")
            return [self._cluster(row) for row in rows.fetchall()]

    def get(self, cluster_id: str) -> UnknownCluster:
        """One cluster with its crops.

        Raises:
            UnknownFaceError: ``unknown_not_found``.
        """
        n = cluster_number(cluster_id)
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM clusters WHERE n = ?", (n,)).fetchone()
            if row is None:
                raise UnknownFaceError(f"no unknown face {cluster_id!r} (it may have expired)")
            return self._cluster(row)

    def crop_path(self, cluster_id: str, crop_id: int) -> Path:
        """The JPEG file of one crop of a cluster.

        Raises:
            UnknownFaceError: ``unknown_not_found``, or ``crop_not_found`` when the cluster does not keep that crop.
        """
        cluster = self.get(cluster_id)
        path = self.crops_dir / str(cluster.n) / f"{crop_id}.jpg"
        if crop_id not in {c.id for c in cluster.crops} or not path.is_file():
            raise UnknownFaceError(f"{cluster_id} has no crop {crop_id}", code="crop_not_found")
        return path

    def mark_promoted(self, n: int, entry_id: str, actor: str) -> None:
        """Record that cluster ``n`` became (or joined) watchlist entry ``entry_id``."""
        with self._lock:
            self._db.execute(
                "UPDATE clusters SET promoted_entry = ?, promoted_by = ?, promoted_at = ? WHERE n = ?",
                (entry_id, actor, _text(datetime.now(UTC)), n),
            )

    def prune(self, older_than: datetime) -> list[int]:
        """Remove clusters last seen before ``older_than``, with their crops; returns their numbers."""
        with self._lock:
            rows = self._db.execute("SELECT n FROM clusters WHERE last_seen < ?", (_text(older_than),)).fetchall()
            gone = [n for (n,) in rows]
            for n in gone:
                self._db.execute("DELETE FROM clusters WHERE n = ?", (n,))
                shutil.rmtree(self.crops_dir / str(n), ignore_errors=True)
        return gone

    def _cluster(self, row: tuple) -> UnknownCluster:
        n, count, first, last, cameras, confidence, entry, by, at = row
        crops = self._db.execute(
            "SELECT id, rank, confidence, camera, seen_at FROM crops WHERE cluster = ? ORDER BY rank DESC, id", (n,)
        ).fetchall()
        return UnknownCluster(
            n=n, count=count, first_seen=_time(first), last_seen=_time(last), cameras=tuple(json.loads(cameras)),
            best_confidence=confidence,
            crops=tuple(UnknownCrop(i, rank, conf, cam, _time(seen)) for i, rank, conf, cam, seen in crops),
            promoted_entry=entry, promoted_by=by, promoted_at=_time(at) if at else None,
        )  # fmt: skip


_COLUMNS = "n, count, first_seen, last_seen, cameras, best_confidence, promoted_entry, promoted_by, promoted_at"


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _text(moment: datetime) -> str:  # ISO 8601 UTC, sorts as text
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
