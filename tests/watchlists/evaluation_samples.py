"""Labelled dataset folders for the evaluation tests: real photos and plain augmentations of them (crops, a mirror
image, brighter and darker copies), the variation a second photo of the same person or scene brings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tests.watchlists.samples import encode

AUGMENTATIONS = ("crop", "flip", "bright", "dark")
"""Probe variants written per label, after the reference (``0-reference.png``) in name order."""


def augmented(photo: np.ndarray, name: str) -> np.ndarray:
    """One variant of ``photo``: a centred 85% crop, a mirror image, or 25% brighter or darker."""
    height, width = photo.shape[:2]
    if name == "crop":
        dy, dx = int(height * 0.075), int(width * 0.075)
        return photo[dy : height - dy, dx : width - dx]
    if name == "flip":
        return photo[:, ::-1]
    factor = {"bright": 1.25, "dark": 0.75}[name]
    return np.clip(photo.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def write_dataset(
    root: Path,
    labelled: Mapping[str, np.ndarray],
    unknown: Mapping[str, np.ndarray] | None = None,
    *,
    augmentations: tuple[str, ...] = AUGMENTATIONS,
) -> Path:
    """``root/<label>/0-reference.png`` plus one ``<n>-<augmentation>.jpg`` probe per augmentation, and every
    ``unknown`` photo as ``root/_unknown/<name>.png``; returns ``root``."""
    for label, photo in labelled.items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "0-reference.png").write_bytes(encode(np.ascontiguousarray(photo), "PNG"))
        for number, name in enumerate(augmentations, start=1):
            pixels = np.ascontiguousarray(augmented(photo, name))
            (folder / f"{number}-{name}.jpg").write_bytes(encode(pixels, "JPEG", quality=90))
    if unknown:
        (root / "_unknown").mkdir(parents=True, exist_ok=True)
        for name, photo in unknown.items():
            (root / "_unknown" / f"{name}.png").write_bytes(encode(np.ascontiguousarray(photo), "PNG"))
    return root
