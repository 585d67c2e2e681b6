"""The model for each kind of entry: the scene embedder for ``anomaly``, the face pipeline for ``face``.

Models load on first use, not when asked for: enrollment checks every image before any model loads, so a typo in a
file name costs milliseconds, not the seconds a model takes. A kind whose model this build lacks (faces, until
``engines.faces`` is installed) is refused up front with ``faces_not_available``, before anything is read.

Example:
    >>> embedders = KindEmbedders.configured(backend="onnxruntime", threads=2)
    >>> embedders.for_kind("anomaly").embed([photo])   # loads MobileNetV2 now
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from engines.errors import VigilError
from watchlists.embedding import Embedder
from watchlists.errors import FacesNotAvailableError
from watchlists.records import check_kind

if TYPE_CHECKING:
    from engines.backends.options import BackendOptions


class ModelsSettings(Protocol):
    """What ``KindEmbedders.from_models`` reads of a models config (duck-typed: watchlists sits below streamer)."""

    scene: str
    face_detector: str
    face_embedder: str
    backend: str
    cache_dir: Path | None

    def backend_options(self) -> BackendOptions:
        """Threads, precision, max batch and the rest, as the backends take them."""
        ...


class DeferredEmbedder:
    """An ``Embedder`` whose model is loaded by the first call that needs it (thread-safe, loaded once)."""

    def __init__(self, load: Callable[[], Embedder]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._model: Embedder | None = None

    @property
    def loaded(self) -> Embedder:
        """The model, loading it now if it was not yet."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    @property
    def version(self) -> str:
        """The model version (loads the model)."""
        return self.loaded.version

    @property
    def dim(self) -> int:
        """The embedding size (loads the model)."""
        return self.loaded.dim

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed with the model (loads it on the first call)."""
        return self.loaded.embed(images)


class KindEmbedders:
    """One deferred model per kind.

    Args:
        loaders: kind -> function that loads its model; a kind left out is one this build cannot embed.
    """

    def __init__(self, loaders: Mapping[str, Callable[[], Embedder]]) -> None:
        self._models = {check_kind(kind): DeferredEmbedder(load) for kind, load in loaders.items()}

    def for_kind(self, kind: str) -> DeferredEmbedder:
        """The (deferred) model for ``kind``.

        Raises:
            FacesNotAvailableError: ``kind`` is ``face`` and this build has no face pipeline.
        """
        if check_kind(kind) not in self._models:
            raise FacesNotAvailableError(
                "face entries need the face pipeline (engines.faces), which this build does not include; "
                "use --kind anomaly for scene references"
            )
        return self._models[kind]

    def embed_probe(self, image: np.ndarray, kind: str | None = None) -> tuple[str, DeferredEmbedder, np.ndarray]:
        """Embed a probe image (``vigil watchlist match``, ``POST /match``) as ``kind``; without one, infer it: a face
        the face pipeline finds makes it ``face``, no face (or no face pipeline in this build) makes it ``anomaly``.

        Returns:
            The kind, its model and the embedding (one row).

        Raises:
            VigilError: the image cannot be embedded as that kind (a face that is too small, several faces ...).
        """
        if kind is None and "face" in self._models:
            faces = self._models["face"]
            try:
                return "face", faces, faces.embed([image])
            except VigilError as exc:
                if exc.code != "no_face_found":
                    raise
        kind = kind or "anomaly"
        model = self.for_kind(kind)
        return kind, model, model.embed([image])

    def __call__(self, kind: str) -> DeferredEmbedder:
        """``for_kind``, so an instance can be passed where a ``kind -> Embedder`` function is expected."""
        return self.for_kind(kind)

    @classmethod
    def from_models(
        cls,
        models: ModelsSettings,
        *,
        show_progress: bool = False,
        scene_embedder: Embedder | None = None,
        face_pipeline: Embedder | None = None,
    ) -> KindEmbedders:
        """``configured`` from the config's ``models`` section (``streamer.config.ModelsConfig``): every backend
        option the service uses (threads, precision, max batch, CUDA graphs, compile, calibration) applies here too."""
        return cls.configured(
            scene=models.scene,
            face_detector=models.face_detector,
            face_embedder=models.face_embedder,
            backend=models.backend,
            cache_dir=models.cache_dir,
            options=models.backend_options(),
            show_progress=show_progress,
            scene_embedder=scene_embedder,
            face_pipeline=face_pipeline,
        )

    @classmethod
    def configured(
        cls,
        *,
        scene: str = "mobilenet_v2",
        face_detector: str = "mtcnn",
        face_embedder: str = "dlib_resnet128",
        backend: str = "auto",
        cache_dir: Path | None = None,
        threads: int = 0,
        options: BackendOptions | None = None,
        show_progress: bool = False,
        scene_embedder: Embedder | None = None,
        face_pipeline: Embedder | None = None,
    ) -> KindEmbedders:
        """The models a config names (``models`` section), faces only when ``engines.faces`` is installed.

        Args:
            threads: intra-op CPU threads; used when ``options`` is not given.
            options: backend options (``ModelsConfig.backend_options()``); ``max_batch`` also bounds each embedder's
                batches.
            scene_embedder: an already loaded scene model to share (the live pipeline's), instead of loading one.
            face_pipeline: likewise for the face model.
        """
        options: dict[str, Any] = {
            "backend": backend,
            "cache_dir": cache_dir,
            "threads": threads,
            "options": options,
            "show_progress": show_progress,
        }

        def load_scene() -> Embedder:
            from engines.scene import load_scene_embedder  # onnxruntime and friends: only once images passed

            return scene_embedder or load_scene_embedder(scene, **options)

        def load_faces() -> Embedder:
            from engines.faces import load_face_pipeline

            return face_pipeline or load_face_pipeline(detector=face_detector, embedder=face_embedder, **options)

        loaders: dict[str, Callable[[], Embedder]] = {"anomaly": load_scene}
        if faces_available():
            loaders["face"] = load_faces
        return cls(loaders)


def faces_available() -> bool:
    """Whether this build has the face pipeline (``engines.faces``), checked without importing it."""
    try:
        return importlib.util.find_spec("engines.faces") is not None
    except (ImportError, ValueError):
        return False
