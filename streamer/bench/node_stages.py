"""The stages the node benchmark replays, built from the engines and the watchlist search, timed one by one.

Each stage is what the service runs for a sampled keyframe (``streamer.pipeline``): decode, the scene embedding of the
frame and its region grid by the service's own ``SceneEmbedder.embed_regions`` (``models.scene``,
``models.scene_regions``; timed as preprocess, everything but the network, and engine, the network), the watchlist
search, the alert policy. They are assembled here without the service around them (no broker, no database, no RTSP),
because the question is how many cameras the compute stages sustain, and because the lent GPU machine has no FAISS,
PyAV, pydantic or MQTT client: every stage picks what this machine has, and the table says what it picked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from engines.backends import BackendOptions, InferenceBackend, create_backend
from engines.backends.devices import cuda_available
from engines.regions import RegionGrid
from engines.registry import get_model_spec
from engines.scene import SceneEmbedder
from streamer.demo.scenes import letterbox, photo

FRAME_SIZE = (1280, 720)
SCENES = ("astronaut", "coffee", "chelsea", "rocket", "camera")
REFERENCE = "astronaut"
THRESHOLD = 0.8


class StageClock:
    """Busy seconds per stage, added from any thread: utilisation is busy time over wall time (and threads)."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.busy[stage] = self.busy.get(stage, 0.0) + time.perf_counter() - started

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` of ``stage`` measured elsewhere."""
        with self._lock:
            self.busy[stage] = self.busy.get(stage, 0.0) + seconds


def keyframe_clip(path: Path) -> Path:
    """An AVI of 1280x720 keyframes only, one per scene photo, each an independent Motion-JPEG frame.

    A camera sampled at one keyframe per 2 s is, to the node, a series of independently coded pictures: this file is
    that series, in the codec every OpenCV build writes and reads (the GPU image has no PyAV or ffmpeg). A 720p JPEG
    decodes in about the time an H.264 IDR frame does; the demuxing of skipped packets is not counted.
    """
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 0.5, FRAME_SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write Motion-JPEG to {path}")
    for name in SCENES:
        writer.write(cv2.cvtColor(letterbox(photo(name), FRAME_SIZE, 1.0), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


class ClipDecoder:
    """One decoder per decode thread, looping over the clip: keyframes are independent, so whichever thread decodes
    a camera's next keyframe does the same work that camera's own reader would."""

    def __init__(self, clip: Path) -> None:
        self._clip = clip
        self._local = threading.local()

    def next_frame(self) -> np.ndarray:
        capture = getattr(self._local, "capture", None) or self._open()
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
        if not ok:
            raise RuntimeError(f"cannot decode {self._clip}")
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def _open(self) -> cv2.VideoCapture:
        self._local.capture = cv2.VideoCapture(str(self._clip))
        return self._local.capture


def batch_limits() -> tuple[int, float]:
    """The inference thread's batches (most keyframes, longest wait in seconds): the service's ``batch:`` defaults on
    a CPU (8, 50 ms), where the config types are installed; on a GPU 32, since a GPU node is served with a larger
    ``batch.max_batch`` (8 keyframes leave the GPU idle between batches)."""
    if cuda_available():
        return 32, 0.05
    try:
        from streamer.config import BatchConfig

        defaults = BatchConfig()
        return defaults.max_batch, defaults.max_wait_ms / 1000
    except ImportError:
        return 8, 0.05


def backend_options(threads: int = 0) -> BackendOptions:
    """What the service's defaults give the backends here: fp16 and large batches on a GPU; on a CPU ``threads``
    as ``models.threads`` means it (0 = auto: half the cores each), where the config types are installed."""
    if cuda_available():
        return BackendOptions(precision="fp16", max_batch=256)
    try:
        from streamer.config import ModelsConfig

        threads = ModelsConfig(threads=threads).cpu_threads()
    except ImportError:
        pass
    return BackendOptions(threads=threads)


def scene_settings(scene: str | None = None, regions: str | None = None) -> tuple[str, str]:
    """``(models.scene, models.scene_regions)``: the given values, checked as the config checks them, else the
    config's defaults; without the config types (pydantic, absent on the GPU image) the same defaults, unchecked.

    Raises:
        ValueError: a model or grid the config would refuse, naming its field and why.
    """
    try:
        from pydantic import ValidationError

        from streamer.config import ModelsConfig
    except ImportError:
        return scene or "mobilenet_v2_pooled", regions or "3x2"
    given = {key: value for key, value in (("scene", scene), ("scene_regions", regions)) if value is not None}
    try:
        models = ModelsConfig(**given)
    except ValidationError as exc:
        raise ValueError("; ".join(f"models.{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from None
    return models.scene, models.scene_regions


class _TimedBackend:
    """An ``InferenceBackend`` that counts the seconds its ``run`` takes, per calling thread."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.name = backend.name
        self.precision: str = getattr(backend, "precision", "fp32")
        self._backend = backend
        self._local = threading.local()

    @property
    def seconds(self) -> float:
        """Seconds this thread has spent in ``run``."""
        return getattr(self._local, "seconds", 0.0)

    def run(self, batch: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self._backend.run(batch)
        finally:
            self._local.seconds = self.seconds + time.perf_counter() - started


class SceneStage:
    """The pipeline's scene step: ``SceneEmbedder.embed_regions`` of a batch of keyframes with ``scene`` on the
    backend ``auto`` picks, over ``regions``' grid (crops of each window, or windows pooled from one pass).

    Attributes:
        scene, grid: the model and region grid used.
        embedder: the service's embedder, on a backend that times its network runs.
        label: the backend and precision, for the table.
    """

    def __init__(self, scene: str, regions: str, threads: int = 0) -> None:
        spec = get_model_spec(scene)
        options = backend_options(threads)
        self._backend = _TimedBackend(create_backend("auto", spec, options=options))
        self.embedder = SceneEmbedder(spec, self._backend, max_batch=options.max_batch)
        self.scene, self.grid = scene, RegionGrid.parse(regions)
        self.label = f"{self._backend.name} {self._backend.precision}"

    def embed(self, frames: list[np.ndarray], clock: StageClock) -> np.ndarray:
        """``grid.per_frame`` unit rows per frame (whole frame first); the network's time counted as ``engine``, the
        rest (crops or the shrunk frame, normalisation, pooling) as ``preprocess``."""
        started, engine_before = time.perf_counter(), self._backend.seconds
        vectors = self.embedder.embed_regions(frames, self.grid).vectors
        engine = self._backend.seconds - engine_before
        clock.add("engine", engine)
        clock.add("preprocess", time.perf_counter() - started - engine)
        return vectors

    def reference(self) -> np.ndarray:
        """The watchlisted photo's embedding as the watchlist computes it (``embed``; a tighter crop than the camera
        shows)."""
        return self.embedder.embed([np.ascontiguousarray(photo(REFERENCE)[20:380, 80:440])])[0]


def face_stage(threads: int = 0) -> tuple[Callable[[list[np.ndarray]], list[list[object]]] | None, str]:
    """``frames -> faces per frame``: the service's face pipeline (MTCNN, alignment, the dlib ResNet embedder) with
    its defaults, as it runs while the face watchlist holds entries; ``None`` where its models cannot be loaded."""
    try:
        from engines.faces import load_face_pipeline

        faces = load_face_pipeline(backend="auto", options=backend_options(threads))
    except Exception as exc:  # the bench reports what this machine cannot run instead of failing
        return None, f"faces not run ({type(exc).__name__}: {exc})"
    return faces.analyse_many, f"faces: {faces.detector_version} + {faces.version}"


def watchlist_search(
    reference: np.ndarray, distractors: int
) -> tuple[Callable[[np.ndarray], list[dict[int, float]]], str]:
    """``queries -> {id: score} over THRESHOLD per query`` over the reference (id 0) and random unit distractors, on the
    device search this machine has: torch on CUDA, else FAISS on the CPU, else torch on the CPU; and its label."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((distractors + 1, reference.shape[0])).astype(np.float32)
    rows[0] = reference
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    ids = np.arange(len(rows), dtype=np.int64)
    try:
        if cuda_available():
            raise ImportError("searched with torch on the GPU")
        from watchlists.index_vectors import VectorIndex

        searcher, label = VectorIndex.build(rows.shape[1], ids, rows), "FAISS CPU"
    except ImportError:
        from watchlists.index_gpu import TorchGpuCopy

        device = "cuda" if cuda_available() else "cpu"
        searcher, label = TorchGpuCopy((ids, rows), device=device), f"torch {device}"

    def search(queries: np.ndarray) -> list[dict[int, float]]:
        lims, scores, found = searcher.range_search(queries, THRESHOLD)
        bounds = zip(lims[:-1].tolist(), lims[1:].tolist(), strict=True)
        return [dict(zip(found[a:b].tolist(), scores[a:b].tolist(), strict=True)) for a, b in bounds]

    return search, f"{label}, {len(rows):,} images"


def alert_policy(model: str) -> Callable[[str, list[float]], int] | None:
    """``(camera, reference scores of one frame) -> events``: the service's voting policy for sightings of the scene
    model ``model``, or ``None`` where its configuration types (pydantic) are not installed, as on the GPU image; it
    costs microseconds per frame."""
    try:
        from streamer.alerts.event import AlertKind
        from streamer.alerts.policy import AlertPolicy, Sighting
        from streamer.config import AlertPolicyConfig
    except ImportError:
        return None
    policy = AlertPolicy(AlertPolicyConfig(), node_id="bench")

    def observe(camera: str, scores: list[float]) -> int:
        sightings = [
            Sighting("ref", "Astronaut", AlertKind.ANOMALY, score, THRESHOLD, (0, 0, *FRAME_SIZE)) for score in scores
        ]
        now = time.monotonic()
        events = policy.observe(camera, datetime.now(UTC), FRAME_SIZE, now, sightings, model)
        return len(events) + len(policy.expire(now))

    return observe
