"""MTCNN detection on real photos: faces found with their landmarks, none where there are none, frame pixels out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.errors import EngineError
from engines.faces import FaceDetection, MtcnnDetector, MtcnnSettings
from tests.fixtures.faces import DlibReference, PlacedFace, box_overlap


def test_the_astronauts_face_is_found_with_landmarks_on_her_eyes_nose_and_mouth(
    mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray], dlib_reference: DlibReference
) -> None:
    photo = face_photos["astronaut"]
    (face,) = mtcnn_detector.detect(photo)
    # dlib's 5 points: outer and inner corner of the eye on the image's right, then of the left one, nose base.
    corners = np.array([(p.x, p.y) for p in dlib_reference.largest_face_shape(photo).parts()], float)
    eyes = np.array([corners[2:4].mean(axis=0), corners[0:2].mean(axis=0)])
    eye_distance = np.linalg.norm(eyes[1] - eyes[0])
    _, _, nose, mouth_left, mouth_right = face.landmarks

    assert face.score > 0.99
    assert np.linalg.norm(face.landmarks[:2] - eyes, axis=1).max() < 0.1 * eye_distance
    assert abs(nose[0] - corners[4, 0]) < 0.1 * eye_distance and eyes[:, 1].max() < nose[1] < corners[4, 1]
    assert mouth_left[1] > corners[4, 1] and mouth_right[1] > corners[4, 1] and mouth_left[0] < nose[0] < mouth_right[0]
    x, y, width, height = face.bbox
    assert all(x < px < x + width and y < py < y + height for px, py in face.landmarks)


def test_boxes_and_landmarks_agree_with_facenet_pytorchs_mtcnn(
    mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray]
) -> None:
    from facenet_pytorch import MTCNN

    reference = MTCNN(keep_all=True, device="cpu")
    for name in ("astronaut", "hopper"):
        (face,) = mtcnn_detector.detect(face_photos[name])
        boxes, _, landmarks = reference.detect(face_photos[name], landmarks=True)
        x1, y1, x2, y2 = np.asarray(boxes[0], float)

        points = np.asarray(landmarks[0], float)

        # Not identical: resampling and border handling differ (OpenCV area resize, zero-padded crops).
        assert box_overlap(face.bbox, (x1, y1, x2 - x1, y2 - y1)) > 0.85, name
        assert np.abs(face.landmarks - points).max() < 0.05 * np.linalg.norm(points[1] - points[0]), name


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_photos_without_people_give_no_face(
    mtcnn_detector: MtcnnDetector, reference_images: dict[str, np.ndarray], name: str
) -> None:
    assert mtcnn_detector.detect(reference_images[name]) == []


def test_every_face_of_a_group_photo_is_found_where_it_was_placed(
    mtcnn_detector: MtcnnDetector, group_photo: tuple[np.ndarray, list[PlacedFace]]
) -> None:
    frame, placed = group_photo

    faces = mtcnn_detector.detect(frame)

    assert len(faces) == len(placed)
    for where in placed:
        best = max(faces, key=lambda face: box_overlap(face.bbox, where.box))
        assert box_overlap(best.bbox, where.box) > 0.7, (where, best.bbox)


def test_a_large_frame_is_searched_shrunk_and_answered_in_its_own_pixels(
    mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray]
) -> None:
    photo = face_photos["astronaut"]
    (small,) = mtcnn_detector.detect(photo)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[28 : 28 + 1024, 448 : 448 + 1024] = cv2.resize(photo, (1024, 1024), interpolation=cv2.INTER_LINEAR)

    (large,) = mtcnn_detector.detect(frame)

    x, y, width, height = small.bbox
    assert box_overlap(large.bbox, (448 + 2 * x, 28 + 2 * y, 2 * width, 2 * height)) > 0.85
    expected_points = (small.landmarks + 0.5) * 2 - 0.5 + (448, 28)
    # Searched at another scale (2/3 of the photo's instead of 1), so MTCNN's landmarks move by a few percent.
    assert np.abs(large.landmarks - expected_points).max() < 0.1 * np.linalg.norm(
        expected_points[1] - expected_points[0]
    )


def test_a_face_cut_by_the_frame_edge_is_found_with_its_box_clipped_to_the_frame(
    mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray]
) -> None:
    cut = np.ascontiguousarray(face_photos["astronaut"][:, 195:])  # the left fifth of her face is gone

    faces = mtcnn_detector.detect(cut)

    assert len(faces) == 1 and faces[0].bbox[0] == 0 and faces[0].score > 0.9


def test_a_larger_minimum_face_skips_faces_far_below_it(
    mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray]
) -> None:
    small = cv2.resize(face_photos["astronaut"], (128, 128), interpolation=cv2.INTER_AREA)  # face about 22 px
    coarse = mtcnn_detector.with_settings(MtcnnSettings(min_face=80))

    assert len(mtcnn_detector.detect(small)) == 1
    assert coarse.detect(small) == []


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"max_side": 32}, "max_side must be >= 48"),
        ({"min_face": 4}, "min_face must be within"),
        ({"thresholds": (0.6, 0.7)}, "thresholds must be three probabilities"),
        ({"thresholds": (0.6, 1.0, 0.7)}, "thresholds must be three probabilities"),
        ({"scale_factor": 0.95}, "scale_factor must be within"),
    ],
    ids=["max-side", "min-face", "two-thresholds", "threshold-of-one", "scale-factor"],
)
def test_bad_settings_are_refused_when_built(settings: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        MtcnnSettings(**settings)


@pytest.mark.parametrize(
    ("bbox", "score", "landmarks", "complaint"),
    [
        ((0, 0, 0, 10), 0.9, np.zeros((5, 2)), "bbox must be"),
        ((-1, 0, 10, 10), 0.9, np.zeros((5, 2)), "bbox must be"),
        ((0, 0, 10, 10), 1.5, np.zeros((5, 2)), "score must be in"),
        ((0, 0, 10, 10), 0.9, np.zeros((4, 2)), "landmarks must be"),
        ((0, 0, 10, 10), 0.9, np.full((5, 2), np.nan), "landmarks must be"),
    ],
    ids=["empty-box", "negative-x", "score", "four-points", "nan"],
)
def test_a_detection_is_checked_when_built(bbox: tuple, score: float, landmarks: np.ndarray, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        FaceDetection(bbox, score, landmarks)


def test_detections_are_read_only(mtcnn_detector: MtcnnDetector, face_photos: dict[str, np.ndarray]) -> None:
    (face,) = mtcnn_detector.detect(face_photos["hopper"])

    with pytest.raises(ValueError, match="read-only"):
        face.landmarks[0, 0] = 0


def test_a_frame_that_is_not_rgb_uint8_is_refused(mtcnn_detector: MtcnnDetector) -> None:
    with pytest.raises(EngineError, match="expected dtype uint8") as caught:
        mtcnn_detector.detect(np.zeros((100, 100, 3), np.float32))
    assert caught.value.code == "bad_image"


def test_the_detector_version_names_mtcnn_and_twelve_hex_digits(mtcnn_detector: MtcnnDetector) -> None:
    name, _, digest = mtcnn_detector.version.partition("@")

    assert name == "mtcnn" and len(digest) == 12 and int(digest, 16) >= 0
