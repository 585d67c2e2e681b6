"""Scene embeddings: whole frames and reference photos in, unit vectors out, ready for an inner-product index.

``SceneEmbedder`` is what the pipeline (batches of keyframes, with their regions: ``embed_regions``) and the
watchlist (reference photos: ``embed``) call. Rows are L2-normalised here, once for every backend, so a FAISS inner
product is a cosine similarity and thresholds mean the same whatever runtime produced the vectors.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from engines.backends import BackendOptions, InferenceBackend, create_backend
from engines.errors import EngineError
from engines.preprocess import check_image, preprocess_images
from engines.region_pooling import MAP_PIXELS, map_input_size, pool_windows
from engines.regions import Box, RegionEmbeddings, RegionGrid
from engines.registry import ModelSpec, get_model_spec

log = logging.getLogger(__name__)


class SceneEmbedder:
    """Embeds RGB images of any size into L2-normalised vectors of one scene model.

    Thread-safe: preprocessing is pure and backends may be run from several threads.

    Two kinds of scene model: a crop model (``mobilenet_v2``) returns one pooled vector per image, and regions are
    embedded as separate crops; a map model (``mobilenet_v2_pooled``, a ``dynamic_size`` spec) returns the last
    feature map, images are embedded by pooling all of it, and a frame's regions are pooled from one pass over the
    frame (``engines.region_pooling``).

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
        self.pooled = spec.dynamic_size
        self.map_pixels = MAP_PIXELS  # part of the version (engines.region_pooling); changed only to measure others
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
            result = self._run_checked(chunk)
            out[start : start + len(chunk)] = result.mean(axis=(2, 3)) if self.pooled else result
        return _unit_rows(out)

    def embed_regions(self, images: Sequence[np.ndarray], grid: RegionGrid | str = "3x2") -> RegionEmbeddings:
        """Embed each image whole and as ``grid``'s overlapping windows, together (backend batches of ``max_batch``).

        Args:
            images: HxWx3 uint8 RGB frames (any sizes).
            grid: a ``RegionGrid`` or its text (``"none"``, ``"2x2"``, ``"3x2"`` ...; config
                ``models.scene_regions``).

        Returns:
            ``grid.per_frame`` rows per image, the whole image first, each with its box in the image. With a crop
            model the whole-image rows equal ``embed(images)``; with a map model every row, the whole image's too,
            is pooled from one pass over the image at ``region_pooling.map_input_size`` (cosine 0.80-0.92 to
            ``embed``'s 224x224 pass on the development clips).

        Raises:
            EngineError: ``bad_image`` (nothing is run), ``bad_regions``, ``bad_output``.
        """
        grid = RegionGrid.parse(grid) if isinstance(grid, str) else grid
        checked = [check_image(image, index) for index, image in enumerate(images)]
        if self.pooled:
            return self._pool_regions(checked, grid)
        boxes: list[Box] = []
        crops: list[np.ndarray] = []  # views into the frames: preprocessing reads them in place
        for image in checked:
            for x, y, w, h in grid.boxes(image.shape[1], image.shape[0]):
                boxes.append((x, y, w, h))
                crops.append(image[y : y + h, x : x + w])
        vectors = self.embed(crops)
        return RegionEmbeddings(vectors, np.array(boxes, dtype=np.int32).reshape(-1, 4), grid.per_frame)

    def _pool_regions(self, images: list[np.ndarray], grid: RegionGrid) -> RegionEmbeddings:
        """One pass per frame at ``map_input_size`` (frames of one input size batched), then every box pooled."""
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            by_size[map_input_size(image.shape[1], image.shape[0], self.map_pixels)].append(index)
        vectors = np.empty((len(images) * grid.per_frame, self.dim), dtype=np.float32)
        boxes = np.empty((len(images) * grid.per_frame, 4), dtype=np.int32)
        for (width, height), members in by_size.items():
            spec = replace(self.spec, input_size=(height, width))
            for start in range(0, len(members), self.max_batch):
                chunk = members[start : start + self.max_batch]
                maps = self._run_checked(preprocess_images([images[i] for i in chunk], spec))
                for index, feature_map in zip(chunk, maps, strict=True):
                    frame_h, frame_w = images[index].shape[:2]
                    frame_boxes = grid.boxes(frame_w, frame_h)
                    rows = slice(index * grid.per_frame, (index + 1) * grid.per_frame)
                    vectors[rows] = pool_windows(feature_map, frame_boxes, frame_w, frame_h)
                    boxes[rows] = frame_boxes
        return RegionEmbeddings(_unit_rows(vectors), boxes, grid.per_frame)

    def _run_checked(self, batch: np.ndarray) -> np.ndarray:
        result = self._runtime.run(batch)
        expected = (len(batch), self.dim)
        if result.shape[:2] != expected or result.ndim != (4 if self.pooled else 2):
            what = f"{expected} + a map" if self.pooled else str(expected)
            raise EngineError(
                f"{self.backend} returned shape {result.shape} for {self.name}, expected {what}", code="bad_output"
            )
        return result

    def __repr__(self) -> str:
        return f"SceneEmbedder(version={self.version!r}, dim={self.dim}, backend={self.backend!r})"


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.maximum(norms, np.float32(1e-12))
    return vectors


def load_scene_embedder(
    name: str = "mobilenet_v2",
    *,
    backend: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
    show_progress: bool = False,
    options: BackendOptions | None = None,
) -> SceneEmbedder:
    """Load a registered scene model on a backend, exporting it first if the cache lacks this version.

    Args:
        name: a scene model in ``engines.registry.MODELS`` (config ``models.scene``).
        backend: ``auto`` or a name in ``engines.backends.BACKENDS`` (config ``models.backend``).
        cache_dir: where exports are cached (config ``models.cache_dir``; ``None``: ``$VIGIL_CACHE_DIR`` or
            ``~/.cache/vigil/models``).
        threads: intra-op CPU threads (config ``models.threads``; 0 = all cores); used when ``options`` is not given.
        show_progress: show a status line on stderr if an export or engine build is needed.
        options: precision, max batch, CUDA graphs, compile, calibration (``ModelsConfig.backend_options()``);
            ``max_batch`` also bounds the embedder's batches.

    Raises:
        EngineError: ``unknown_model``, ``wrong_model_kind``, ``unknown_backend``, ``backend_unavailable``,
            ``bad_backend_option``, ``weights_missing``, ``export_failed``, ``model_load_failed``.
    """
    spec = get_model_spec(name)
    if spec.kind != "scene":
        raise EngineError(f"model {name!r} is a {spec.kind} model, not a scene model", code="wrong_model_kind")
    options = options if options is not None else BackendOptions(threads=threads)
    runtime = create_backend(backend, spec, cache_dir=cache_dir, show_progress=show_progress, options=options)
    embedder = SceneEmbedder(spec, runtime, max_batch=options.max_batch)
    log.info("scene embedder ready: %s on %s", embedder.version, embedder.backend)
    return embedder
