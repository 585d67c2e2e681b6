"""Faces: MTCNN detection, dlib-style alignment, quality signals and dlib ResNet descriptors, on ONNX Runtime.

Small single-purpose parts, arrays in and arrays out, so each can be tested and replaced alone:

- ``detector``: ``MtcnnDetector.detect(frame) -> [FaceDetection]`` (box, score, five landmarks).
- ``align``: ``align_face(frame, landmarks) -> chip``, the 150x150 crop dlib's ResNet was trained on.
- ``quality``: ``assess_face(detection, chip) -> FaceQuality`` (size, sharpness, yaw, roll) and its ``problems()``.
- ``embedder``: ``FaceEmbedder.embed(chips) -> (N, 128)`` raw dlib descriptors; ``unit_rows`` for the index.
- ``pipeline``: ``FacePipeline``, all of it in one call, for the stream and for enrollment.
- ``models``: ``load_face_pipeline`` and friends: the models by config name, on a backend.

Nothing here imports torch: the networks are exported once (``vigil models export``) and run from the ONNX cache.
"""

from __future__ import annotations

from engines.faces.align import align_face
from engines.faces.detector import FaceDetection, MtcnnDetector, MtcnnSettings
from engines.faces.embedder import (
    DLIB_COSINE_THRESHOLD,
    DLIB_DISTANCE_THRESHOLD,
    FaceEmbedder,
    cosine_threshold,
    unit_rows,
)
from engines.faces.models import DETECTORS, load_face_embedder, load_face_pipeline, load_mtcnn_detector
from engines.faces.pipeline import Face, FacePipeline, FaceRejectedError
from engines.faces.quality import FaceQuality, QualityLimits, assess_face

__all__ = [
    "DETECTORS",
    "DLIB_COSINE_THRESHOLD",
    "DLIB_DISTANCE_THRESHOLD",
    "Face",
    "FaceDetection",
    "FaceEmbedder",
    "FacePipeline",
    "FaceQuality",
    "FaceRejectedError",
    "MtcnnDetector",
    "MtcnnSettings",
    "QualityLimits",
    "align_face",
    "assess_face",
    "cosine_threshold",
    "load_face_embedder",
    "load_face_pipeline",
    "load_mtcnn_detector",
    "unit_rows",
]
