"""How usable a detected face is for recognition: its size, sharpness and pose, measured, then judged by limits.

Measuring and judging are apart on purpose: the numbers are facts about a face (logged, shown to an admin), the
limits are policy, and enrollment (a reference photo must be good) is stricter than the live stream (a passing
face in a camera is what it is).

- Size: the detection box's shorter side, in frame pixels. dlib's ResNet sees a 150x150 chip whatever the face's
  size; a face much smaller than the chip's face area (~100 px) is upsampled and loses the detail it matches on.
- Sharpness: variance of the Laplacian of the chip's face area (the middle 100x100, without the padding), in grey
  levels squared. Because the chip fixes the face's scale, blur in the photo, motion or focus, shows up the same
  way at any face size; an upsampled small face is soft too, as it should be.
- Pose: roll is the tilt of the line between the eyes; yaw is estimated from how far the nose tip sits off the
  face's midline (between the eye midpoint and the mouth midpoint), relative to the eye distance. For a head
  turned by ``yaw`` that offset is about ``0.4 tan(yaw)`` (the nose tip stands ~0.4 eye distances in front of
  the eyes and mouth corners in average 3D head models), so ``yaw = atan(offset / 0.4)``: an estimate good to
  some ten degrees, enough to refuse a profile as a reference photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engines.faces.detector import FaceDetection

NOSE_DEPTH_PER_EYE_DISTANCE = 0.4
"""How far the nose tip stands in front of the eyes and mouth corners, in inter-ocular distances."""

_FACE_AREA = slice(25, 125)  # the unpadded face frame inside a 150x150 chip with padding 0.25


@dataclass(frozen=True)
class QualityLimits:
    """What a usable face needs; ``FaceQuality.problems`` compares against these.

    Attributes:
        min_size_px: smallest detection box side, in frame pixels.
        min_sharpness: smallest variance of the Laplacian on the chip's face area (sharp faces: 100s to 1000s;
            a face blurred by 2 chip pixels: under 15).
        max_yaw_deg: largest head turn, left or right.
        max_roll_deg: largest head tilt.
    """

    min_size_px: int = 64
    min_sharpness: float = 25.0
    max_yaw_deg: float = 35.0
    max_roll_deg: float = 30.0

    def __post_init__(self) -> None:
        if self.min_size_px < 1 or self.min_sharpness < 0:
            raise ValueError(
                f"min_size_px must be >= 1 and min_sharpness >= 0, got {self.min_size_px}, {self.min_sharpness}"
            )
        if not (0 < self.max_yaw_deg <= 90 and 0 < self.max_roll_deg <= 180):
            raise ValueError(
                f"max_yaw_deg must be in (0, 90], max_roll_deg in (0, 180], got {self.max_yaw_deg}, {self.max_roll_deg}"
            )


@dataclass(frozen=True)
class FaceQuality:
    """Measured quality of one face.

    Attributes:
        size_px: shorter side of the detection box, frame pixels.
        sharpness: variance of the Laplacian on the chip's face area.
        yaw_deg: estimated head turn; positive when the nose points to the image's right.
        roll_deg: head tilt; positive when the eye on the image's right is lower (clockwise on screen).
    """

    size_px: int
    sharpness: float
    yaw_deg: float
    roll_deg: float

    def __post_init__(self) -> None:
        if self.size_px < 0 or not self.sharpness >= 0:
            raise ValueError(f"size_px and sharpness must be >= 0, got {self.size_px}, {self.sharpness}")
        if not (abs(self.yaw_deg) <= 90 and abs(self.roll_deg) <= 180):
            raise ValueError(
                f"yaw_deg must be within +-90 and roll_deg within +-180, got {self.yaw_deg}, {self.roll_deg}"
            )

    def problems(self, limits: QualityLimits | None = None) -> tuple[str, ...]:
        """Stable codes of every limit this face fails, in a fixed order; empty when it is usable.

        Codes: ``face_too_small``, ``too_blurry``, ``bad_pose``.
        """
        limits = limits or QualityLimits()
        found = []
        if self.size_px < limits.min_size_px:
            found.append("face_too_small")
        if self.sharpness < limits.min_sharpness:
            found.append("too_blurry")
        if abs(self.yaw_deg) > limits.max_yaw_deg or abs(self.roll_deg) > limits.max_roll_deg:
            found.append("bad_pose")
        return tuple(found)

    def describe(self) -> str:
        """One line for logs and error messages."""
        return (
            f"size {self.size_px} px, sharpness {self.sharpness:.0f}, yaw {self.yaw_deg:+.0f} deg, "
            f"roll {self.roll_deg:+.0f} deg"
        )


def chip_sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face area of a 150x150 RGB chip."""
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)[_FACE_AREA, _FACE_AREA]
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """``(yaw_deg, roll_deg)`` estimated from MTCNN's five landmarks (see the module docstring)."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_vector = points[1] - points[0]
    roll = math.atan2(eye_vector[1], eye_vector[0])
    eye_distance = float(np.hypot(*eye_vector))
    if eye_distance < 1e-6:
        return 90.0, math.degrees(roll)
    cos, sin = math.cos(-roll), math.sin(-roll)
    upright = points @ np.array([[cos, sin], [-sin, cos]])  # roll undone: the face's sideways is the x axis
    midline_x = (upright[0, 0] + upright[1, 0] + upright[3, 0] + upright[4, 0]) / 4
    offset = (upright[2, 0] - midline_x) / eye_distance
    return math.degrees(math.atan(offset / NOSE_DEPTH_PER_EYE_DISTANCE)), math.degrees(roll)


def assess_face(detection: FaceDetection, chip: np.ndarray) -> FaceQuality:
    """Measure one face: its detection (size, landmarks for pose) and its aligned chip (sharpness)."""
    yaw, roll = head_pose(detection.landmarks)
    return FaceQuality(
        size_px=min(detection.bbox[2], detection.bbox[3]),
        sharpness=chip_sharpness(chip),
        yaw_deg=yaw,
        roll_deg=roll,
    )
