"""Scene embeddings: whole frames and reference photos in, unit vectors out, ready for an inner-product index.

``SceneEmbedder`` is what the pipeline (batches of keyframes) and the watchlist (reference photos) call. Rows are
L2-normalised here, once for every backend, so a FAISS inner product is a cosine similarity and thresholds mean
the same whatever runtime produced the vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.backends import InferenceBackend, create_backend
from engines.errors import EngineError
from engines.preprocess import preprocess_images
from engines.registry import ModelSpec, get_model_spec

log = logging.getLogger(__name__)


class SceneEmbedder:
    """Embeds RGB images of any size into L2-normalised vectors of one scene model.

    Thread-safe: preprocessing is pure and backends may be run from several threads.

    Attributes:
        name: model name (``mobilenet_v2``).
        version: model version (``mobilenet_v2@<12 hex>``); store it with every embedding.
        dim: length of one embedding.
        backend: name of the runtime that computes them (``onnxruntime`` ...).
        max_batch: largest batch sent to the backend at once; longer inputs are split, which bounds memory.

    Example:
        >>> embedder = load_scene_embedder("mobilenet_v2", threads=2)
        >>> vectors = embedder.embed([frame_a, frame_b])   # (2, 1280) float32, unit rows
        >>> float(vectors[0] @ vectors[1])                 # cosine similarity
    """

    def __init__(self, spec: ModelSpec, backend: InferenceBackend, *, max_batch: int = 32) -> None:
        if spec.kind != "scene":
            raise EngineError(f"model {spec.name!r} is a {spec.kind} model, not a scene model", code="wrong_model_kind")
        if max_batch < 1:
            raise EngineError(f"max_batch must be >= 1, got {max_batch}", code="bad_backend_option")
        self.spec = spec
        self.name = spec.name
        self.version = spec.version
        self.dim = spec.output_dim
        self.backend = backend.name
        self.max_batch = max_batch
        self._runtime = backend

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The NCHW float32 batch the network sees: full frame resized to the input size (no crop), mean/std.

        Raises:
            EngineError: ``bad_image`` naming the first image that is not HxWx3 uint8, expected vs got.
        """
        return preprocess_images(images, self.spec)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed images (HxWx3 uint8 RGB, any size, mixed sizes allowed).

        Returns:
            ``(N, dim)`` float32, C-contiguous, every row of L2 norm 1; ``(0, dim)`` for no images.

        Raises:
            EngineError: ``bad_image`` for a wrong dtype or shape (nothing is run), ``bad_output`` when the backend
                returns something of the wrong shape.
        """
        images = list(images)
        batch = self.preprocess(images)  # checks every image before any inference
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            out[start : start + len(chunk)] = self._run_checked(chunk)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, np.float32(1e-12))
        return out

    def _run_checked(self, batch: np.ndarray) -> np.ndarray:
        result = self._runtime.run(batch)
        if result.shape != (len(batch), self.dim):
            raise EngineError(
                f"{self.backend} returned shape {result.shape} for {self.name}, expected {(len(batch), self.dim)}",
                code="bad_output",
            )
        return result

    def __repr__(self) -> str:
        return f"SceneEmbedder(version={self.version!r}, dim={self.dim}, backend={self.backend!r})"


def load_scene_embedder(
    name: str = "mobilenet_v2",
    *,
    backend: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
    show_progress: bool = False,
) -> SceneEmbedder:
    """Load a registered scene model on a backend, exporting it first if the cache lacks this version.

    Args:
        name: a scene model in ``engines.registry.MODELS`` (config ``models.scene``).
        backend: ``auto`` or a name in ``engines.backends.BACKENDS`` (config ``models.backend``).
        cache_dir: where exports are cached (config ``models.cache_dir``; ``None``: ``$VIGIL_CACHE_DIR`` or
            ``~/.cache/vigil/models``).
        threads: intra-op CPU threads (config ``models.threads``; 0 = all cores).
        show_progress: show a status line on stderr if an export is needed.

    Raises:
        EngineError: ``unknown_model``, ``wrong_model_kind``, ``unknown_backend``, ``backend_unavailable``,
            ``weights_missing``, ``export_failed``, ``model_load_failed``.
    """
    spec = get_model_spec(name)
    if spec.kind != "scene":
        raise EngineError(f"model {name!r} is a {spec.kind} model, not a scene model", code="wrong_model_kind")
    runtime = create_backend(backend, spec, cache_dir=cache_dir, threads=threads, show_progress=show_progress)
    embedder = SceneEmbedder(spec, runtime)
    log.info("scene embedder ready: %s on %s", embedder.version, embedder.backend)
    return embedder
