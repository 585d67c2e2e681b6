"""A SQLite archive of past keyframes: one whole-frame scene embedding and one thumbnail each, searchable by image.

Only the whole-frame embedding is kept, as float16: the region grid would store 7 vectors per frame instead of 1 and
float32 twice the bytes, so a MobileNetV2 row is 2.5 KB instead of 35 KB. A keyframe is archived only when it differs
from its camera's last archived one (cosine under ``min_change``) or ``every_s`` has passed, so a static scene costs
one row a minute, not one per sampled frame.

Search is an exact inner product over the rows that the SQL filter (model, camera, time) leaves, read in chunks so
memory stays bounded. Sized for a node of 16 cameras kept 30 days with that rule: at one row a minute per camera
that is ~700k rows (1.7 GB of vectors); a query scoped to one camera or a day reads a few tens of thousands of them.
Measured on a 2-core CPU: ~0.6 s per 100k rows read (SQLite reads dominate), 40-80 ms for a camera's or a day's
6-9k rows. A whole-archive query of a full node takes seconds: the point where an in-memory or ANN index pays.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from prometheus_client import Counter

from streamer.archive.thumbnails import write_thumbnail
from streamer.config import ArchiveConfig, StorageConfig
from streamer.sources.frame import Keyframe

log = logging.getLogger(__name__)
DATABASE_NAME = "keyframes.db"
SEARCH_CHUNK_ROWS = 4096
SCHEMA = """
CREATE TABLE IF NOT EXISTS keyframes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    camera        TEXT NOT NULL,
    frame_time    REAL NOT NULL,
    model_version TEXT NOT NULL,
    vector        BLOB NOT NULL,
    thumbnail     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keyframes_model_camera_time ON keyframes (model_version, camera, frame_time);
CREATE INDEX IF NOT EXISTS keyframes_time ON keyframes (frame_time);
"""
REGIONS_COLUMN = "ALTER TABLE keyframes ADD COLUMN regions BLOB"
"""Region embeddings (float16, whole frame first), for adaptation's background; archives of older builds lack it."""


def archive_folder(storage: StorageConfig) -> Path:
    """The archive lives in the node's data folder, beside the snapshots: ``<data>/archive``."""
    return storage.snapshots.parent / "archive"


@dataclass(frozen=True)
class ArchivedKeyframe:
    """A past keyframe that a search found.

    Attributes:
        id: the archive row (``GET /api/v1/archive/{id}/thumbnail``).
        camera: the camera that saw it.
        frame_time: when (UTC).
        score: cosine similarity with the query, 1 = same embedding.
        thumbnail: the JPEG's absolute path.
    """

    id: int
    camera: str
    frame_time: datetime
    score: float
    thumbnail: Path


@dataclass
class _LastArchived:
    vector: np.ndarray
    frame_time: datetime


class KeyframeArchive:
    """Records keyframes from the inference thread and answers searches from any other; thread-safe.

    Args:
        folder: the archive folder (``archive_folder``); the database and ``<camera>/<YYYY-MM-DD>/`` thumbnails.
        settings: the ``archive`` config section (change threshold, interval, thumbnail width).
        keep_days: rows and thumbnails older than this are removed by ``prune``; 0 keeps them forever.
        write_failures: counts keyframes not archived (``vigil_archive_write_failures_total``).
    """

    def __init__(
        self,
        folder: Path,
        settings: ArchiveConfig | None = None,
        keep_days: int = 0,
        write_failures: Counter | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._settings = settings or ArchiveConfig()
        self._keep_days = keep_days
        self._db = sqlite3.connect(self.folder / DATABASE_NAME, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last rows, never corrupt the file
        self._db.executescript(SCHEMA)
        if "regions" not in {row[1] for row in self._db.execute("PRAGMA table_info(keyframes)")}:
            self._db.execute(REGIONS_COLUMN)
        self._lock = threading.Lock()
        self._last: dict[str, _LastArchived] = {}  # one per configured camera: bounded
        self.write_failures = 0
        self._failure_counter = write_failures

    def record(
        self, frames: Sequence[Keyframe], vectors: np.ndarray, model_version: str, regions: np.ndarray | None = None
    ) -> int:
        """Archive the frames that differ from their camera's last archived keyframe (or are due); returns how many.

        Never raises for a disk or database problem: it is logged and counted in ``write_failures``, since the
        archive must never cost matching or alerts.

        Args:
            frames: a batch of keyframes.
            vectors: ``(len(frames), dim)`` unit whole-frame embeddings (``RegionEmbeddings.whole()``).
            model_version: the model that made them; a search only compares vectors of the same model.
            regions: ``(len(frames), per_frame, dim)`` region embeddings, kept as the cameras' background for
                few-shot adaptation (``background``).
        """
        if vectors.shape[0] != len(frames) or vectors.ndim != 2:
            raise ValueError(f"vectors must be ({len(frames)}, dim), one per frame, got {vectors.shape}")
        archived = 0
        for position, (frame, vector) in enumerate(zip(frames, vectors, strict=True)):
            if not self._is_due(frame, vector):
                continue
            try:
                self._write(frame, vector, model_version, None if regions is None else regions[position])
            except (OSError, sqlite3.Error, cv2.error) as exc:
                self.write_failures += 1
                if self._failure_counter is not None:
                    self._failure_counter.inc()
                log.warning("keyframe of camera %s not archived: %s", frame.camera, exc)
                continue
            self._last[frame.camera] = _LastArchived(vector.copy(), frame.frame_time)
            archived += 1
        return archived

    def search(
        self,
        vector: np.ndarray,
        model_version: str,
        *,
        camera: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        top_k: int = 20,
    ) -> list[ArchivedKeyframe]:
        """The archived keyframes most like ``vector`` (a unit scene embedding by ``model_version``), best first.

        Args:
            camera: only this camera's keyframes.
            since, until: only keyframes seen in ``[since, until]`` (timezone-aware).
            top_k: at most this many.
        """
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        sql = "SELECT id, vector FROM keyframes WHERE model_version = ?"
        args: list[object] = [model_version]
        for clause, value in (("camera = ?", camera), ("frame_time >= ?", since), ("frame_time <= ?", until)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value.timestamp() if isinstance(value, datetime) else value)
        best: list[tuple[float, int]] = []  # a min-heap of (score, id), at most top_k long
        reader = sqlite3.connect(self.folder / DATABASE_NAME)  # its own: a search never holds up the pipeline
        try:
            cursor = reader.execute(sql, args)
            while rows := cursor.fetchmany(SEARCH_CHUNK_ROWS):
                matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float16).reshape(len(rows), -1)
                if matrix.shape[1] != len(query):
                    raise ValueError(f"query has {len(query)} dimensions, {model_version} rows {matrix.shape[1]}")
                scores = matrix.astype(np.float32) @ query
                for index in np.argsort(scores)[::-1][:top_k]:
                    item = (float(scores[index]), int(rows[index][0]))
                    if len(best) < top_k:
                        heapq.heappush(best, item)
                    elif item > best[0]:
                        heapq.heapreplace(best, item)
            return [_found(reader, self.folder, row_id, score) for score, row_id in sorted(best, reverse=True)]
        finally:
            reader.close()

    def background_cameras(self, model_version: str, *, older_than_s: float) -> frozenset[str]:
        """The cameras that ``background`` would return rows of."""
        cutoff = datetime.now(UTC).timestamp() - older_than_s
        with self._lock:
            found = self._db.execute(
                "SELECT DISTINCT camera FROM keyframes WHERE model_version = ? AND frame_time <= ?"
                " AND regions IS NOT NULL",
                (model_version, cutoff),
            ).fetchall()
        return frozenset(camera for (camera,) in found)

    def background(self, model_version: str, *, limit: int, older_than_s: float) -> np.ndarray:
        """Region embeddings of archived keyframes: what the cameras look like normally, for adaptation.

        Keyframes younger than ``older_than_s`` are left out (an event may be under way in them). The rows are
        spread evenly over the archive, so one busy hour does not crowd out the rest.

        Returns:
            ``(rows, dim)`` float32 unit vectors, at most ``limit`` rows (``(0, 0)`` when there are none).
        """
        cutoff = datetime.now(UTC).timestamp() - older_than_s
        with self._lock:
            count = self._db.execute(
                "SELECT count(*) FROM keyframes WHERE model_version = ? AND frame_time <= ? AND regions IS NOT NULL",
                (model_version, cutoff),
            ).fetchone()[0]
            if not count or limit <= 0:
                return np.empty((0, 0), np.float32)
            step = max(1, count // max(1, limit // 4))  # ~4 regions per keyframe kept below
            found = self._db.execute(
                "SELECT length(vector) / 2, regions FROM (SELECT vector, regions,"
                " row_number() OVER (ORDER BY camera, frame_time) AS n FROM keyframes"
                " WHERE model_version = ? AND frame_time <= ? AND regions IS NOT NULL) WHERE n % ? = 0",
                (model_version, cutoff, step),
            ).fetchall()
        rows = np.concatenate([np.frombuffer(blob, np.float16).reshape(-1, dim) for dim, blob in found])
        if len(rows) > limit:
            rows = rows[np.linspace(0, len(rows) - 1, limit).astype(int)]
        rows = rows.astype(np.float32)
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)  # float16 rounding
        return rows

    def thumbnail(self, keyframe_id: int) -> Path | None:
        """The JPEG of an archived keyframe, or ``None`` when there is no such row or its file is gone."""
        if not 0 < keyframe_id < 2**63:  # row ids are positive 64-bit integers; SQLite overflows on anything wider
            return None
        with self._lock:
            row = self._db.execute("SELECT thumbnail FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
        path = self.folder / row[0] if row else None
        return path if path is not None and path.is_file() else None

    def count(self, camera: str | None = None) -> int:
        """Archived keyframes (of ``camera``)."""
        where, args = ("", ()) if camera is None else (" WHERE camera = ?", (camera,))
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM keyframes" + where, args).fetchone()[0])

    def prune(self, now: datetime | None = None) -> int:
        """Remove rows older than ``keep_days``, their thumbnails and emptied day folders; returns rows removed."""
        if self._keep_days <= 0:
            return 0
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=self._keep_days)).timestamp()
        with self._lock:
            rows = self._db.execute("SELECT id, thumbnail FROM keyframes WHERE frame_time < ?", (cutoff,)).fetchall()
            folders = set()
            for _, thumbnail in rows:
                path = self.folder / thumbnail
                path.unlink(missing_ok=True)
                folders.add(path.parent)
            self._db.execute("DELETE FROM keyframes WHERE frame_time < ?", (cutoff,))
        for folder in folders:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _is_due(self, frame: Keyframe, vector: np.ndarray) -> bool:
        last = self._last.get(frame.camera)
        if last is None:
            return True
        if (frame.frame_time - last.frame_time).total_seconds() >= self._settings.every_s:
            return True
        return float(np.dot(last.vector, vector)) < self._settings.min_change

    def _write(self, frame: Keyframe, vector: np.ndarray, model_version: str, regions: np.ndarray | None) -> None:
        """Thumbnail first, then the row; a row that fails takes its thumbnail away (nothing half-written)."""
        moment = frame.frame_time.astimezone(UTC)
        name = f"{moment.strftime('%H%M%S%f')[:-3]}-{uuid.uuid4().hex[:8]}.jpg"
        relative = Path(frame.camera) / moment.strftime("%Y-%m-%d") / name
        write_thumbnail(self.folder / relative, frame.image, self._settings.thumbnail_px)
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO keyframes (camera, frame_time, model_version, vector, thumbnail, regions)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        frame.camera,
                        moment.timestamp(),
                        model_version,
                        vector.astype(np.float16).tobytes(),
                        str(relative),
                        None if regions is None else regions.astype(np.float16).tobytes(),
                    ),
                )
        except sqlite3.Error:
            (self.folder / relative).unlink(missing_ok=True)
            raise


def _found(db: sqlite3.Connection, folder: Path, row_id: int, score: float) -> ArchivedKeyframe:
    camera, frame_time, thumbnail = db.execute(
        "SELECT camera, frame_time, thumbnail FROM keyframes WHERE id = ?", (row_id,)
    ).fetchone()
    return ArchivedKeyframe(
        id=row_id,
        camera=camera,
        frame_time=datetime.fromtimestamp(frame_time, UTC),
        score=score,
        thumbnail=folder / thumbnail,
    )
