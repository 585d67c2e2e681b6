"""Alignment: dlib's chip reproduced in NumPy/OpenCV, and MTCNN's landmarks placed where dlib's mean face has them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.errors import EngineError
from engines.faces import FaceEmbedder, align_face
from engines.faces.align import DLIB_SHAPE5_TEMPLATE, MTCNN_TEMPLATE, similarity_transform
from tests.fixtures.faces import DlibReference


def _points(shape: object) -> np.ndarray:
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)


def _photo(face_photos: dict[str, np.ndarray], name: str, scale: float) -> np.ndarray:
    photo = face_photos[name]
    if scale == 1:
        return photo
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=method)


@pytest.mark.parametrize(("name", "scale"), [("astronaut", 1), ("hopper", 1), ("astronaut", 0.5)])
def test_from_dlibs_own_landmarks_the_chip_is_dlibs_get_face_chip(
    face_photos: dict[str, np.ndarray], dlib_reference: DlibReference, name: str, scale: float
) -> None:
    photo = _photo(face_photos, name, scale)
    shape = dlib_reference.largest_face_shape(photo)

    ours = align_face(photo, _points(shape), DLIB_SHAPE5_TEMPLATE).astype(int)
    theirs = dlib_reference.chip(photo, shape).astype(int)

    difference = np.abs(ours - theirs)
    assert ours.shape == (150, 150, 3)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 2, (difference.mean(), difference.max())


def test_a_face_much_larger_than_the_chip_is_taken_from_a_pyramid_level_as_dlib_does(
    face_photos: dict[str, np.ndarray], dlib_reference: DlibReference, face_embedder: FaceEmbedder
) -> None:
    photo = _photo(face_photos, "astronaut", 3)  # a 260 px face: a chip pixel spans 2.4 image pixels
    shape = dlib_reference.largest_face_shape(photo)
    theirs = dlib_reference.chip(photo, shape)
    ours = align_face(photo, _points(shape), DLIB_SHAPE5_TEMPLATE)
    unfiltered = cv2.warpAffine(  # plain bilinear sampling, no pyramid: aliased
        photo, _chip_mapping(_points(shape)), (150, 150), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )

    # dlib's pyramid sits half a source pixel off OpenCV's, so pixels differ a little; descriptors do not.
    pixel_error = np.abs(ours.astype(int) - theirs.astype(int)).mean()
    assert pixel_error < 2.5 and pixel_error < np.abs(unfiltered.astype(int) - theirs.astype(int)).mean()
    assert np.linalg.norm(np.subtract(*face_embedder.embed([ours, theirs]))) < 0.05


def _chip_mapping(points: np.ndarray) -> np.ndarray:
    from engines.faces.align import chip_to_image

    return chip_to_image(points, DLIB_SHAPE5_TEMPLATE, 150, 0.25)


def test_the_mtcnn_template_puts_the_eyes_between_dlibs_eye_corners_and_the_nose_tip_above_the_nose_base() -> None:
    dlib_points = DLIB_SHAPE5_TEMPLATE.chip_points()
    ours = MTCNN_TEMPLATE.chip_points()

    eye_left, eye_right = dlib_points[2:4].mean(axis=0), dlib_points[0:2].mean(axis=0)
    assert np.linalg.norm(ours[0] - eye_left) < 1.5 and np.linalg.norm(ours[1] - eye_right) < 1.5
    assert abs(ours[2, 0] - dlib_points[4, 0]) < 1 and ours[1, 1] < ours[2, 1] < dlib_points[4, 1]
    assert ours[3, 1] == ours[4, 1] > dlib_points[4, 1] and ours[3, 0] < 75 < ours[4, 0]


@pytest.mark.parametrize(
    ("angle", "scale", "shift"), [(0, 1.0, (0, 0)), (30, 2.0, (5, -7)), (-75, 0.4, (100, 20)), (180, 1.5, (0, 3))]
)
def test_the_similarity_fit_recovers_a_known_rotation_scale_and_shift(
    angle: float, scale: float, shift: tuple[float, float]
) -> None:
    radians = np.radians(angle)
    matrix = scale * np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    source = MTCNN_TEMPLATE.chip_points()

    fit = similarity_transform(source, source @ matrix.T + shift)

    np.testing.assert_allclose(fit, np.hstack([matrix, np.array(shift, float)[:, None]]), atol=1e-9)


def test_a_rotated_photo_gives_the_same_upright_chip(face_photos: dict[str, np.ndarray], mtcnn_detector) -> None:
    photo = face_photos["hopper"]
    landmarks = mtcnn_detector.detect(photo)[0].landmarks
    height, width = photo.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), 35, 1.0)
    rotated = cv2.warpAffine(photo, rotation, (width, height), flags=cv2.INTER_LINEAR)
    rotated_landmarks = landmarks @ rotation[:, :2].T + rotation[:, 2]

    upright = align_face(photo, landmarks).astype(int)
    from_rotated = align_face(rotated, rotated_landmarks).astype(int)

    assert np.abs(upright - from_rotated)[20:130, 20:130].mean() < 3


def test_parts_of_the_chip_beyond_the_image_are_black(face_photos: dict[str, np.ndarray], mtcnn_detector) -> None:
    photo = face_photos["astronaut"]
    landmarks = mtcnn_detector.detect(photo)[0].landmarks
    cut = np.ascontiguousarray(photo[:, 200:])  # the face's left third is gone

    chip = align_face(cut, landmarks - (200, 0))

    assert (chip[:, :20] == 0).all() and chip[:, 100:].mean() > 50


@pytest.mark.parametrize(
    "landmarks",
    [np.zeros((4, 2)), np.full((5, 2), np.nan), np.ones((5, 2)), np.zeros((5, 3))],
    ids=["four-points", "nan", "all-at-one-point", "three-columns"],
)
def test_landmarks_that_cannot_place_a_face_are_refused(
    face_photos: dict[str, np.ndarray], landmarks: np.ndarray
) -> None:
    with pytest.raises(EngineError) as caught:
        align_face(face_photos["astronaut"], landmarks)
    assert caught.value.code == "bad_landmarks"
