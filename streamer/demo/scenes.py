"""The demo's camera footage and watchlist references, made from public-domain photos that ship with scikit-image.

The references are *different crops* of the photos than what the camera shows (the camera shows the whole photo
with a slow zoom, after H.264 encoding), so a match in the demo is a real match, not a copy of a frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

FRAME_SIZE = (1280, 720)
FPS = 10


@dataclass(frozen=True)
class DemoScene:
    """A photo shown for ``seconds``, zooming slowly from ``zoom[0]`` to ``zoom[1]`` (a Ken Burns pan)."""

    name: str
    seconds: float
    zoom: tuple[float, float] = (1.0, 1.08)


@dataclass(frozen=True)
class DemoReference:
    """A watchlist entry of the demo: kind, label, the photo it is cropped from, the crop (rows, cols) and how the
    crop is altered (mirrored, brightened) so that it is a different picture from anything the camera shows."""

    kind: str
    label: str
    photo: str
    crop: tuple[slice, slice]
    threshold: float | None
    mirror: bool = False
    brighten: int = 0


SCENES = (
    DemoScene("coffee", 6),
    DemoScene("astronaut", 8, (1.0, 1.15)),
    DemoScene("chelsea", 6),
    DemoScene("rocket", 8, (1.0, 1.12)),
    DemoScene("camera", 6),
)

REFERENCES = (
    DemoReference("face", "Eileen Collins", "astronaut", (slice(0, 300), slice(110, 370)), None, True, 25),
    DemoReference("anomaly", "Astronaut (reference photo)", "astronaut", (slice(20, 380), slice(80, 440)), 0.8),
    DemoReference("anomaly", "Rocket launch", "rocket", (slice(0, 330), slice(100, 420)), 0.8),
)


def photo(name: str) -> np.ndarray:
    """An HxWx3 uint8 RGB photo from scikit-image's bundled data."""
    image = getattr(data, name)()
    if image.dtype != np.uint8:
        image = (image * 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(image[..., :3])


def reference_image(reference: DemoReference) -> np.ndarray:
    rows, cols = reference.crop
    image = photo(reference.photo)[rows, cols]
    if reference.mirror:
        image = image[:, ::-1]
    if reference.brighten:
        image = np.clip(image.astype(np.int16) + reference.brighten, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def clip_seconds() -> float:
    return sum(scene.seconds for scene in SCENES)


def demo_frames(size: tuple[int, int] = FRAME_SIZE, fps: int = FPS) -> Iterator[np.ndarray]:
    """Every frame of the demo clip, in order: each scene letterboxed on a dark background, zooming slowly."""
    for scene in SCENES:
        image = photo(scene.name)
        count = round(scene.seconds * fps)
        for i in range(count):
            zoom = scene.zoom[0] + (scene.zoom[1] - scene.zoom[0]) * i / max(count - 1, 1)
            yield letterbox(image, size, zoom)


def letterbox(image: np.ndarray, size: tuple[int, int], zoom: float) -> np.ndarray:
    width, height = size
    canvas = np.full((height, width, 3), 32, np.uint8)
    h, w = image.shape[:2]
    scale = min(width / w, height / h) * zoom
    resized = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    rh, rw = resized.shape[:2]
    # Centre the (possibly larger than the frame) zoomed photo and keep what fits.
    sy, sx = max((rh - height) // 2, 0), max((rw - width) // 2, 0)
    crop = resized[sy : sy + height, sx : sx + width]
    y, x = (height - crop.shape[0]) // 2, (width - crop.shape[1]) // 2
    canvas[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return canvas
