"""The generic negative set's embedded views, kept on disk beside the exported models.

Every training learns from about 1,100 augmented day and night views of the generic photos, and embedding them is
most of a first training: 22 s of the 30 s that `vigil watchlist add` spends on a first entry of 5 photos, 2 cores.
They depend only on the scene model, the photos, the augmentation code and a few settings, so a process that finds
them on disk skips that. The file is named by a SHA-256 of all of these (the photos' pixels and the source of the
modules that draw the views included), so a change to any of them is a new file, never a stale one; an unreadable
or mismatched file is ignored and replaced.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.atomic_write import replaced_on_success
from engines.export import resolve_cache_dir
from watchlists import augment, generic_negatives, night_lights

log = logging.getLogger(__name__)

KEEP = 4
"""Files kept (one per scene model and view settings in use; a node rarely has more than two)."""

VIEW_CODE = (augment, night_lights, generic_negatives)
"""Modules whose code decides what the views look like: part of the cache key."""


def generic_view_key(model_version: str, photos: Sequence[np.ndarray], settings: Sequence[int]) -> str:
    """SHA-256 of everything the embedded views depend on: model, photos, view-drawing code, view settings."""
    digest = hashlib.sha256(model_version.encode())
    digest.update(repr(tuple(settings)).encode())
    for module in VIEW_CODE:
        digest.update(Path(module.__file__ or "").read_bytes())
    for photo in photos:
        digest.update(repr(photo.shape).encode())
        digest.update(np.ascontiguousarray(photo).tobytes())
    return digest.hexdigest()


class GenericViewCache:
    """``load(key)`` / ``save(key, vectors, sources)`` of embedded generic views in ``folder``, the exported models'
    folder (config ``models.cache_dir``; ``None``: ``$VIGIL_CACHE_DIR`` or ``~/.cache/vigil/models``)."""

    def __init__(self, folder: Path | str | None) -> None:
        self._folder = resolve_cache_dir(folder)

    def path(self, key: str) -> Path:
        return self._folder / f"generic-views-{key[:16]}.npz"

    def load(self, key: str, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The views stored under ``key``, or ``None`` (none stored, unreadable, or not for this key and width)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                vectors, sources, stored_key = stored["vectors"], stored["sources"], str(stored["key"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("generic view cache %s is unreadable, embedding the views again: %s", path, exc)
            return None
        if stored_key != key or vectors.ndim != 2 or vectors.shape[1] != dim or len(sources) != len(vectors):
            log.warning("generic view cache %s does not match this model and photos, embedding them again", path)
            return None
        return vectors.astype(np.float32, copy=False), sources

    def save(self, key: str, vectors: np.ndarray, sources: np.ndarray) -> None:
        """Store the views (written aside and renamed, as the exported models are, so a reader never sees half a file
        and the file has the models' permissions). A cache that cannot be written costs the next process the
        embedding, nothing else."""
        try:
            with replaced_on_success(self.path(key)) as temporary, open(temporary, "wb") as file:
                np.savez(file, vectors=vectors.astype(np.float32), sources=sources, key=np.array(key))
            self._prune()
        except OSError as exc:
            log.warning("generic view cache not written to %s: %s", self._folder, exc)

    def _prune(self) -> None:
        """Keep the newest ``KEEP`` files: each code or model change names a new one, and the old ones would pile up."""
        files = sorted(self._folder.glob("generic-views-*.npz"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink(missing_ok=True)
