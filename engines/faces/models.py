"""The face models by config name, loaded onto a backend: detector, embedder, and the pipeline of both.

Config ``models.face_detector`` names a detector (``mtcnn``: three registered networks run in turn) and
``models.face_embedder`` a registered face embedder (``dlib_resnet128``). Loading exports whatever the ONNX cache
lacks, once (``vigil models export`` does it ahead of time), then builds one backend per network.

A detector's version covers its networks and the cascade's own code (``engines.faces.detector`` and
``engines.faces.boxes``), the way a registered model's version covers its network and preprocessing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from engines.backends import create_backend
from engines.backends.options import BackendOptions
from engines.errors import EngineError
from engines.faces.detector import MtcnnDetector, MtcnnSettings
from engines.faces.embedder import FaceEmbedder
from engines.faces.pipeline import FacePipeline
from engines.faces.quality import QualityLimits
from engines.registry import code_fingerprint, get_model_spec

log = logging.getLogger(__name__)

DETECTORS = {"mtcnn": ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet")}
"""Detector name (config ``models.face_detector``) -> the registered networks it runs, in order."""

_DETECTOR_CODE = ("engines.faces.detector", "engines.faces.boxes")


def detector_version(name: str, network_versions: list[str]) -> str:
    """``<name>@<12 hex>`` over the nets' versions and this cascade's code (pyramid, boxes, thresholds' use)."""
    digest = hashlib.sha256(b"vigil-face-detector/1")
    for part in (*network_versions, *(code_fingerprint(module) for module in _DETECTOR_CODE)):
        digest.update(part.encode())
    return f"{name}@{digest.hexdigest()[:12]}"


def load_mtcnn_detector(
    *,
    backend: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
    settings: MtcnnSettings | None = None,
    show_progress: bool = False,
    options: BackendOptions | None = None,
) -> MtcnnDetector:
    """Load MTCNN's three nets on a backend, exporting any whose version the cache lacks.

    Args:
        backend: ``auto`` or a backend name (config ``models.backend``).
        cache_dir: ONNX cache (config ``models.cache_dir``).
        threads: intra-op CPU threads per net (config ``models.threads``; 0 = all cores); used when ``options`` is
            not given.
        settings: search settings; defaults to ``MtcnnSettings()``.
        show_progress: show a status line on stderr if an export is needed.
        options: backend options (``ModelsConfig.backend_options()``); longer crop batches are split to max_batch.

    Raises:
        EngineError: ``weights_missing``, ``export_failed``, ``unknown_backend``, ``backend_unavailable``,
            ``model_load_failed``.
    """
    specs = [get_model_spec(name) for name in DETECTORS["mtcnn"]]
    options = options if options is not None else BackendOptions(threads=threads)
    nets = [
        create_backend(backend, spec, cache_dir=cache_dir, show_progress=show_progress, options=options)
        for spec in specs
    ]
    version = detector_version("mtcnn", [spec.version for spec in specs])
    detector = MtcnnDetector(*nets, version=version, settings=settings, mean=specs[0].mean[0], std=specs[0].std[0])
    log.info("face detector ready: %s on %s", version, nets[0].name)
    return detector


def load_face_embedder(
    name: str = "dlib_resnet128",
    *,
    backend: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
    show_progress: bool = False,
    options: BackendOptions | None = None,
) -> FaceEmbedder:
    """Load a registered face embedder on a backend, exporting it first if the cache lacks this version.

    Args:
        name: config ``models.face_embedder``.
        backend, cache_dir, threads, show_progress, options: as for ``engines.scene.load_scene_embedder``
            (``options.max_batch`` also bounds the embedder's batches).

    Raises:
        EngineError: ``unknown_model``, ``wrong_model_kind``, ``unknown_backend``, ``backend_unavailable``,
            ``weights_missing``, ``export_failed``, ``model_load_failed``.
    """
    spec = get_model_spec(name)
    if spec.kind != "face_embedder":
        raise EngineError(f"model {name!r} is a {spec.kind} model, not a face embedder", code="wrong_model_kind")
    options = options if options is not None else BackendOptions(threads=threads)
    runtime = create_backend(backend, spec, cache_dir=cache_dir, show_progress=show_progress, options=options)
    embedder = FaceEmbedder(spec, runtime, max_batch=options.max_batch)
    log.info("face embedder ready: %s on %s", embedder.version, embedder.backend)
    return embedder


def load_face_pipeline(
    *,
    detector: str = "mtcnn",
    embedder: str = "dlib_resnet128",
    backend: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
    detector_settings: MtcnnSettings | None = None,
    limits: QualityLimits | None = None,
    max_faces: int = 32,
    show_progress: bool = False,
    options: BackendOptions | None = None,
) -> FacePipeline:
    """Load the detector and embedder named by the config (``models.face_detector``, ``models.face_embedder``).

    Args:
        detector: a key of ``DETECTORS``.
        embedder: a face embedder in ``engines.registry.MODELS``.
        backend, cache_dir, threads, show_progress, options: as for ``engines.scene.load_scene_embedder``.
        detector_settings: MTCNN's search settings (max side, min face, thresholds).
        limits: what a usable face needs.
        max_faces: most faces analysed per image.

    Raises:
        EngineError: ``unknown_model`` for an unknown detector, or whatever loading either model raises.
    """
    if detector not in DETECTORS:
        raise EngineError(
            f"unknown face detector {detector!r}; known: {', '.join(sorted(DETECTORS))}", code="unknown_model"
        )
    options = options if options is not None else BackendOptions(threads=threads)
    found = load_mtcnn_detector(
        backend=backend, cache_dir=cache_dir, settings=detector_settings, show_progress=show_progress, options=options
    )
    described = load_face_embedder(
        embedder, backend=backend, cache_dir=cache_dir, show_progress=show_progress, options=options
    )
    pipeline = FacePipeline(found, described, limits=limits, max_faces=max_faces)
    log.info("face pipeline ready: %s + %s", pipeline.detector_version, pipeline.version)
    return pipeline
