"""Quality signals: real blurred, small, turned and tilted faces get the right codes; pose from landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from engines.faces import FacePipeline, FaceQuality, QualityLimits
from engines.faces.quality import NOSE_DEPTH_PER_EYE_DISTANCE, head_pose

# A frontal face: eyes 40 px apart, nose tip on the midline, mouth corners below.
FRONTAL = np.array([[80.0, 100.0], [120.0, 100.0], [100.0, 125.0], [85.0, 145.0], [115.0, 145.0]])


def _only_face(pipeline: FacePipeline, image: np.ndarray) -> FaceQuality:
    faces = pipeline.analyse(np.ascontiguousarray(image))
    return max(faces, key=lambda face: face.detection.bbox[2] * face.detection.bbox[3]).quality


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("person", "change", "problems"),
    [
        ("astronaut", lambda image: image, ()),
        ("hopper", lambda image: image, ()),
        ("astronaut", lambda image: cv2.GaussianBlur(image, (0, 0), 3), ("too_blurry",)),
        ("hopper", lambda image: cv2.GaussianBlur(image, (0, 0), 5), ("too_blurry",)),
        ("astronaut", lambda image: cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA), ("face_too_small",)),
        ("hopper", lambda image: _rotated(image, -45), ("bad_pose",)),
        ("cameraman", lambda image: image, ("face_too_small", "bad_pose")),  # a small three-quarter profile
    ],
    ids=["sharp-astronaut", "sharp-hopper", "blurred", "blurred-more", "small", "tilted", "turned-and-small"],
)
def test_real_faces_get_the_codes_of_what_is_wrong_with_them(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray], person: str, change, problems: tuple
) -> None:
    quality = _only_face(face_pipeline, change(face_photos[person]))

    assert quality.problems() == problems, quality.describe()


def test_a_tilted_photo_measures_its_tilt_as_roll(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    upright = _only_face(face_pipeline, face_photos["hopper"])
    tilted = _only_face(face_pipeline, _rotated(face_photos["hopper"], -25))  # clockwise on screen

    assert tilted.roll_deg - upright.roll_deg == pytest.approx(25, abs=4)


def test_blur_lowers_sharpness_and_shrinking_lowers_size(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    photo = face_photos["hopper"]
    sharp = _only_face(face_pipeline, photo)
    blurred = [_only_face(face_pipeline, cv2.GaussianBlur(photo, (0, 0), sigma)) for sigma in (1, 2, 4)]
    smaller = _only_face(face_pipeline, cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))

    assert sharp.sharpness > blurred[0].sharpness > blurred[1].sharpness > blurred[2].sharpness
    assert smaller.size_px == pytest.approx(sharp.size_px / 2, abs=4)


def _turned(yaw_degrees: float) -> np.ndarray:
    points = FRONTAL.copy()
    points[2, 0] += 40 * NOSE_DEPTH_PER_EYE_DISTANCE * math.tan(math.radians(yaw_degrees))
    return points


def _tilted(points: np.ndarray, degrees: float) -> np.ndarray:
    radians = math.radians(degrees)
    rotation = np.array([[math.cos(radians), -math.sin(radians)], [math.sin(radians), math.cos(radians)]])
    return (points - 100) @ rotation.T + 100


@pytest.mark.parametrize(
    ("landmarks", "yaw", "roll"),
    [
        (FRONTAL, 0, 0),
        (_turned(30), 30, 0),
        (_turned(-50), -50, 0),
        (_tilted(FRONTAL, 20), 0, 20),
        (_tilted(_turned(25), -40), 25, -40),
    ],
    ids=["frontal", "turned-right", "turned-left", "tilted", "turned-and-tilted"],
)
def test_yaw_and_roll_are_estimated_from_the_five_landmarks(landmarks: np.ndarray, yaw: float, roll: float) -> None:
    assert head_pose(landmarks) == pytest.approx((yaw, roll), abs=1e-6)


@pytest.mark.parametrize(
    ("quality", "limits", "problems"),
    [
        (FaceQuality(100, 300.0, 5.0, -3.0), QualityLimits(), ()),
        (FaceQuality(63, 300.0, 5.0, -3.0), QualityLimits(), ("face_too_small",)),
        (FaceQuality(63, 300.0, 5.0, -3.0), QualityLimits(min_size_px=48), ()),
        (FaceQuality(100, 24.9, 5.0, -3.0), QualityLimits(), ("too_blurry",)),
        (FaceQuality(100, 300.0, -36.0, 0.0), QualityLimits(), ("bad_pose",)),
        (FaceQuality(100, 300.0, 0.0, 31.0), QualityLimits(), ("bad_pose",)),
        (FaceQuality(100, 300.0, 0.0, 31.0), QualityLimits(max_roll_deg=45), ()),
        (FaceQuality(20, 3.0, 60.0, 50.0), QualityLimits(), ("face_too_small", "too_blurry", "bad_pose")),
    ],
    ids=["usable", "small", "small-allowed", "blurry", "turned", "tilted", "tilt-allowed", "everything"],
)
def test_problems_compare_the_measurements_with_the_limits(
    quality: FaceQuality, limits: QualityLimits, problems: tuple
) -> None:
    assert quality.problems(limits) == problems


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        (lambda: QualityLimits(min_size_px=0), "min_size_px must be >= 1"),
        (lambda: QualityLimits(max_yaw_deg=120), "max_yaw_deg must be in"),
        (lambda: FaceQuality(-1, 10.0, 0.0, 0.0), "size_px and sharpness must be >= 0"),
        (lambda: FaceQuality(10, float("nan"), 0.0, 0.0), "size_px and sharpness must be >= 0"),
        (lambda: FaceQuality(10, 10.0, 95.0, 0.0), "yaw_deg must be within"),
    ],
    ids=["limits-size", "limits-yaw", "negative-size", "nan-sharpness", "yaw-beyond-profile"],
)
def test_quality_values_and_limits_are_checked_when_built(build, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        build()
