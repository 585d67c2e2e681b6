"""The INT8 calibration set: representative images, their identity, and the batch TensorRT calibrates on.

INT8 maps each layer's activations onto 256 levels; entropy calibration picks each layer's range from what the
network sees on real input. The images must look like the cameras' frames (same scenes, lighting, compression), so
they come from a folder the operator fills, not from a built-in set. They are preprocessed exactly as frames are
(``engines.preprocess``), and their bytes are hashed into the engine's name: a new calibration set is a new engine.

No TensorRT import here: the set is checked on machines that cannot install TensorRT.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from engines.errors import EngineError
from engines.preprocess import preprocess_images
from engines.registry import ModelSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_CALIBRATION_IMAGES = 512
"""More images add calibration time, not accuracy: NVIDIA suggests ~500 for ImageNet-style networks."""


def calibration_files(folder: Path | str) -> list[Path]:
    """The image files in ``folder`` (not recursive), sorted, at most ``MAX_CALIBRATION_IMAGES``.

    Raises:
        EngineError: ``bad_calibration_set`` when the folder is missing or holds no images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EngineError(f"calibration images folder not found: {folder}", code="bad_calibration_set")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not files:
        raise EngineError(
            f"no calibration images ({', '.join(IMAGE_SUFFIXES)}) in {folder}", code="bad_calibration_set"
        )
    return files[:MAX_CALIBRATION_IMAGES]


def calibration_digest(files: list[Path]) -> str:
    """SHA-256 (16 hex digits) over the files' names and bytes: changes when any image changes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def calibration_batch(files: list[Path], spec: ModelSpec) -> np.ndarray:
    """Decode and preprocess every file for ``spec``: ``(N, 3, height, width)`` float32, frames' preprocessing.

    Raises:
        EngineError: ``bad_calibration_set`` naming the first file that does not decode as an image.
    """
    images = []
    for path in files:
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise EngineError(f"calibration image {path} cannot be decoded", code="bad_calibration_set")
        images.append(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))
    return preprocess_images(images, spec)
