"""Cut the face chip dlib's ResNet was trained on: 150x150, upright, landmarks where dlib puts them, padding 0.25.

dlib aligns with ``get_face_chip_details``: a least-squares similarity transform (Umeyama) from landmark positions
in a mean face to the detected ones, then bilinear sampling, from an image pyramid level when the face is more
than twice the chip's size. This module does the same in NumPy/OpenCV, including dlib's way of turning the
transform into a chip (a rectangle of ``cols * scale - 1`` pixels centred on the image of the chip's centre,
sampled corner to corner), so that from dlib's own five landmarks it reproduces ``dlib.get_face_chip``.

Landmarks come from MTCNN (eye centres, nose tip, mouth corners), not from dlib's 5-point predictor (eye corners,
base of the nose). ``MTCNN_TEMPLATE`` places those points where dlib's mean face (the 68 averaged positions that
``get_face_chip_details`` aligns 68-point shapes to, and that its 5-point positions were taken from) has them, so
an MTCNN-aligned chip frames the face as dlib's own chips do. Its code is part of the ``dlib_resnet128`` model
version: changing a template or the sampling changes every descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.errors import EngineError
from engines.preprocess import check_image

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# dlib's mean face (get_face_chip_details), points used below: eyes 36-41 and 42-47, nose tip 30, mouth corners
# 48 and 54; x then y, in the unpadded face frame (0..1).
_MEAN_FACE = {
    30: (0.490127, 0.515625),
    36: (0.121737, 0.216423),
    37: (0.187122, 0.178758),
    38: (0.265825, 0.179852),
    39: (0.334606, 0.231733),
    40: (0.260918, 0.245099),
    41: (0.182743, 0.244077),
    42: (0.645647, 0.231733),
    43: (0.714428, 0.179852),
    44: (0.793132, 0.178758),
    45: (0.858516, 0.216423),
    46: (0.79751, 0.244077),
    47: (0.719335, 0.245099),
    48: (0.254149, 0.780233),
    54: (0.726104, 0.780233),
}


@dataclass(frozen=True, eq=False)
class ChipTemplate:
    """Where K landmarks belong in dlib's face frame, before padding (x and y in 0..1).

    Attributes:
        name: what the landmarks are (``mtcnn5``, ``dlib_shape5``).
        points: ``(K, 2)`` float64, read-only.
    """

    name: str
    points: np.ndarray

    def __post_init__(self) -> None:
        points = np.array(self.points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
            raise ValueError(f"template points must be (K >= 2, 2), got shape {points.shape}")
        points.setflags(write=False)
        object.__setattr__(self, "points", points)

    def chip_points(self, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
        """The points in chip pixels, as dlib computes them: ``(padding + p) / (2 padding + 1) * size``."""
        return (padding + self.points) / (2 * padding + 1) * size


def _mean_of(*indices: int) -> tuple[float, float]:
    x, y = np.mean([_MEAN_FACE[index] for index in indices], axis=0)
    return float(x), float(y)


MTCNN_TEMPLATE = ChipTemplate(
    "mtcnn5",
    np.array(
        [
            _mean_of(36, 37, 38, 39, 40, 41),
            _mean_of(42, 43, 44, 45, 46, 47),
            _MEAN_FACE[30],
            _MEAN_FACE[48],
            _MEAN_FACE[54],
        ]
    ),
)
"""MTCNN's landmarks in image order: eye on the left of the image, eye on the right, nose tip, mouth left, right."""

DLIB_SHAPE5_TEMPLATE = ChipTemplate(
    "dlib_shape5",
    np.array(
        [
            (0.8595674595992, 0.2134981538014),
            (0.6460604764104, 0.2289674387677),
            (0.1205750620789, 0.2137274526848),
            (0.3340850613712, 0.2290642403242),
            (0.4901123135679, 0.6277975316475),
        ]
    ),
)
"""dlib's 5-point predictor (``shape_predictor_5_face_landmarks.dat``): eye corners and the base of the nose."""


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking ``source`` points to ``target`` (Umeyama 1991).

    Returns:
        ``(2, 3)`` float64 affine matrix ``[s R | t]``; no reflection.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    flip = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ flip @ vt
    variance = (centred_source**2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ flip) / variance) if variance > 0 else 0.0
    matrix = scale * rotation
    return np.hstack([matrix, (target_mean - matrix @ source_mean)[:, None]])


def chip_to_image(landmarks: np.ndarray, template: ChipTemplate, size: int, padding: float) -> np.ndarray:
    """The ``(2, 3)`` affine map from chip pixels to image pixels that dlib's ``extract_image_chip`` samples with.

    dlib keeps the similarity's angle and scale, centres a rectangle of ``size * scale - 1`` pixels on the image of
    the chip point ``(size / 2, size / 2)``, and maps chip pixel 0 and ``size - 1`` to its edges.
    """
    fit = similarity_transform(template.chip_points(size, padding), landmarks)
    scale = float(np.hypot(*fit[:, 0]))
    if not scale > 0:
        raise EngineError(f"landmarks {landmarks.tolist()} do not span a face", code="bad_landmarks")
    rotation = fit[:, :2] / scale
    centre = fit[:, :2] @ np.array([size / 2, size / 2]) + fit[:, 2]
    step = (size * scale - 1) / (size - 1)
    matrix = rotation * step
    return np.hstack([matrix, (centre - matrix @ np.array([(size - 1) / 2, (size - 1) / 2]))[:, None]])


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    template: ChipTemplate = MTCNN_TEMPLATE,
    *,
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
) -> np.ndarray:
    """Cut the upright face chip for ``landmarks`` out of ``image``.

    Args:
        image: HxWx3 uint8 RGB, full resolution (a chip cut from a downscaled frame would be blurrier).
        landmarks: ``(K, 2)`` pixel coordinates in the order of ``template``.
        template: where those landmarks belong in the chip.
        size: chip side in pixels (dlib's ResNet: 150).
        padding: extra border around the face, as a fraction of the face frame (dlib's ResNet: 0.25).

    Returns:
        ``(size, size, 3)`` uint8 RGB; parts beyond the image are black, as in dlib.

    Raises:
        EngineError: ``bad_landmarks`` when the points are not ``(K, 2)`` finite or collapse to one point;
            ``bad_image`` when the image is not HxWx3 uint8.
    """
    image = check_image(image, 0)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != template.points.shape or not np.isfinite(points).all():
        raise EngineError(
            f"expected {template.name} landmarks of shape {template.points.shape}, finite, got {points.shape}",
            code="bad_landmarks",
        )
    mapping = chip_to_image(points, template, size, padding)
    source, mapping = _pyramid_level(image, mapping, size)
    return cv2.warpAffine(
        source,
        mapping,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def _pyramid_level(image: np.ndarray, mapping: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Halve the image while a chip pixel spans more than two image pixels, as dlib does to avoid aliasing.

    Only the part of the image under the chip, plus a margin for the filter, is halved, so a small face in a large
    frame costs little. ``cv2.pyrDown`` uses dlib's 5-tap filter; pixel i of a level sits at 2i in the one above.
    """
    step = float(np.hypot(*mapping[:, 0]))
    if step <= 2:
        return image, mapping
    corners = mapping @ np.array([[0, size - 1, 0, size - 1], [0, 0, size - 1, size - 1], [1, 1, 1, 1]])
    margin = 2 * step + 2
    height, width = image.shape[:2]
    left, top = (max(0, int(np.floor(value - margin))) for value in corners.min(axis=1))
    right, bottom = (int(np.ceil(value + margin)) for value in corners.max(axis=1))
    right, bottom = min(width, right), min(height, bottom)
    if right - left < 2 or bottom - top < 2:
        return image, mapping  # the chip lies off the image: it comes out black either way
    source = image[top:bottom, left:right]
    mapping = mapping - np.array([[0, 0, left], [0, 0, top]])
    while step > 2 and min(source.shape[:2]) >= 2:
        source, mapping, step = cv2.pyrDown(source), mapping / 2, step / 2
    return source, mapping
