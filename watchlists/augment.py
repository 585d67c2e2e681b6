"""Many plausible views of one reference photo, so a few photos can train an entry's head.

An admin enrols a handful of photos of "fire" or "a handgun", usually framed tightly and well lit. A camera sees the
same thing smaller, off-centre, blurred, re-encoded, under other light, and inside one of Vigil's region windows
among other things. Each view here applies what a camera does to a picture: a crop at a random scale and position,
a mirror, brightness/contrast/saturation jitter, a small rotation, blur, JPEG re-encoding, and, for some views, the
photo pasted small into an ordinary scene (so an object that fills 5-20% of a window still looks like the entry).

Views are drawn from a seeded generator: the same photos give the same views, so a retraining on unchanged data
gives the same head and a digest of the inputs names the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentationPolicy:
    """How far each view may stray from the photo.

    Attributes:
        min_scale: smallest crop, as a share of the photo's area.
        paste_share: share of views that paste the photo into a background scene instead of cropping it.
        paste_size: the pasted photo's size range, as a share of the background window's shorter side.
        max_rotation: degrees either way.
        jpeg_quality: range of re-encoding qualities.
    """

    min_scale: float = 0.35
    paste_share: float = 0.3
    paste_size: tuple[float, float] = (0.3, 0.7)
    max_rotation: float = 10.0
    jpeg_quality: tuple[int, int] = (35, 90)


class ReferenceAugmenter:
    """Draws views of photos (HxWx3 uint8 RGB) for training.

    Args:
        backgrounds: ordinary scenes to paste photos into (the generic negative set); none: crops only.
        seed: seeds the generator, so the same inputs give the same views.
        policy: the ranges views are drawn from.
    """

    def __init__(
        self, backgrounds: Sequence[np.ndarray] = (), *, seed: int = 0, policy: AugmentationPolicy | None = None
    ) -> None:
        self._backgrounds = list(backgrounds)
        self._rng = np.random.default_rng(seed)
        self._policy = policy or AugmentationPolicy()

    def views(self, image: np.ndarray, count: int, *, paste: bool = True) -> list[np.ndarray]:
        """``count`` views of ``image``; ``paste=False`` for negatives, which need not be found small."""
        return [self.view(image, paste=paste) for _ in range(count)]

    def view(self, image: np.ndarray, *, paste: bool = True) -> np.ndarray:
        rng, policy = self._rng, self._policy
        if paste and self._backgrounds and rng.random() < policy.paste_share:
            out = self._pasted(image)
        else:
            out = self._crop(image)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        out = _jitter(out, rng)
        if rng.random() < 0.3:
            out = _rotate(out, rng.uniform(-policy.max_rotation, policy.max_rotation))
        if rng.random() < 0.3:
            size = int(rng.choice([3, 5]))
            out = cv2.GaussianBlur(out, (size, size), 0)
        if rng.random() < 0.5:
            out = _reencode(out, int(rng.integers(*policy.jpeg_quality)))
        return np.ascontiguousarray(out)

    def _crop(self, image: np.ndarray) -> np.ndarray:
        rng = self._rng
        height, width = image.shape[:2]
        scale = rng.uniform(self._policy.min_scale, 1.0)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        crop_w = max(8, min(width, int(width * np.sqrt(scale * aspect))))
        crop_h = max(8, min(height, int(height * np.sqrt(scale / aspect))))
        y = int(rng.integers(0, height - crop_h + 1))
        x = int(rng.integers(0, width - crop_w + 1))
        return image[y : y + crop_h, x : x + crop_w]

    def _pasted(self, image: np.ndarray) -> np.ndarray:
        rng = self._rng
        background = self._backgrounds[int(rng.integers(len(self._backgrounds)))]
        canvas = self._crop(background).copy()
        canvas_h, canvas_w = canvas.shape[:2]
        height, width = image.shape[:2]
        factor = rng.uniform(*self._policy.paste_size) * min(canvas_h / height, canvas_w / width)
        size = (max(8, min(canvas_w, int(width * factor))), max(8, min(canvas_h, int(height * factor))))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        y = int(rng.integers(0, canvas_h - size[1] + 1))
        x = int(rng.integers(0, canvas_w - size[0] + 1))
        canvas[y : y + size[1], x : x + size[0]] = small
        return canvas


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness and saturation, each within about a quarter either way."""
    out = image.astype(np.float32) * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * rng.uniform(0.7, 1.3)
    return np.clip(out, 0, 255).astype(np.uint8)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def _reencode(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # OpenCV refuses only impossible inputs; keep the view as it is
        return image
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
