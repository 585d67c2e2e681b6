"""FacePipeline: every face of a frame with chip, quality and embedding; exactly one usable face for enrollment."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engines.errors import EngineError
from engines.faces import DLIB_DISTANCE_THRESHOLD, Face, FacePipeline, FaceRejectedError, load_face_pipeline
from tests.fixtures.faces import PlacedFace, box_overlap


def test_a_portrait_gives_one_face_with_box_chip_quality_and_both_vector_forms(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    (face,) = face_pipeline.analyse(face_photos["astronaut"])

    assert face.chip.shape == (150, 150, 3) and face.chip.dtype == np.uint8
    assert face.quality.problems() == () and face.quality.size_px == min(face.detection.bbox[2:])
    assert face.descriptor.shape == face.embedding.shape == (128,)
    np.testing.assert_allclose(face.embedding, face.descriptor / np.linalg.norm(face.descriptor), atol=1e-6)
    assert not (face.chip.flags.writeable or face.descriptor.flags.writeable or face.embedding.flags.writeable)


def test_each_face_of_a_group_photo_is_recognised_as_the_person_pasted_there(
    face_pipeline: FacePipeline,
    face_photos: dict[str, np.ndarray],
    group_photo: tuple[np.ndarray, list[PlacedFace]],
) -> None:
    frame, placed = group_photo
    portraits = {name: face_pipeline.analyse(photo)[0].descriptor for name, photo in face_photos.items()}

    faces = face_pipeline.analyse(frame)

    assert len(faces) == len(placed)
    for where in placed:
        face = max(faces, key=lambda found: box_overlap(found.detection.bbox, where.box))
        distances = {name: float(np.linalg.norm(face.descriptor - vector)) for name, vector in portraits.items()}
        assert min(distances, key=distances.__getitem__) == where.source, distances
        assert distances[where.source] < DLIB_DISTANCE_THRESHOLD < sorted(distances.values())[1], distances


def test_several_frames_are_analysed_like_one_at_a_time(
    face_pipeline: FacePipeline,
    face_photos: dict[str, np.ndarray],
    reference_images: dict[str, np.ndarray],
    group_photo: tuple[np.ndarray, list[PlacedFace]],
) -> None:
    frames = [face_photos["hopper"], reference_images["coffee"], group_photo[0]]

    together = face_pipeline.analyse_many(frames)
    alone = [face_pipeline.analyse(frame) for frame in frames]

    assert [len(faces) for faces in together] == [len(faces) for faces in alone] == [1, 0, 3]
    for faces_together, faces_alone in zip(together, alone, strict=True):
        for one, other in zip(faces_together, faces_alone, strict=True):
            assert one.detection.bbox == other.detection.bbox
            np.testing.assert_allclose(one.descriptor, other.descriptor, atol=1e-5)


def test_a_crowd_is_bounded_to_the_best_scoring_faces(
    face_pipeline: FacePipeline, group_photo: tuple[np.ndarray, list[PlacedFace]]
) -> None:
    bounded = FacePipeline(face_pipeline.detector, face_pipeline.embedder, max_faces=2)

    faces = bounded.analyse(group_photo[0])
    every = face_pipeline.analyse(group_photo[0])

    assert [face.detection.bbox for face in faces] == [face.detection.bbox for face in every[:2]]


def _small(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(
    ("source", "change", "code", "message"),
    [
        ("astronaut", None, None, None),
        ("hopper", None, None, None),
        ("coffee", None, "no_face_found", "no face found in the 600x400 image"),
        ("group", None, "multiple_faces", "2 usable faces in the image"),
        ("astronaut", lambda image: cv2.GaussianBlur(image, (0, 0), 3), "too_blurry", "is not usable (too_blurry)"),
        ("astronaut", _small, "face_too_small", "is not usable (face_too_small): size 3"),
        ("cameraman", None, "face_too_small", "is not usable (face_too_small, bad_pose)"),
    ],
    ids=["astronaut", "hopper", "no-face", "group", "blurred", "small", "profile"],
)
def test_enrollment_embeds_a_photo_with_exactly_one_usable_face_and_names_the_reason_otherwise(
    face_pipeline: FacePipeline,
    face_photos: dict[str, np.ndarray],
    reference_images: dict[str, np.ndarray],
    group_photo: tuple[np.ndarray, list[PlacedFace]],
    source: str,
    change,
    code: str | None,
    message: str | None,
) -> None:
    images = {**face_photos, "coffee": reference_images["coffee"], "group": group_photo[0]}
    image = np.ascontiguousarray(change(images[source]) if change else images[source])

    if code is None:
        vectors = face_pipeline.embed([image])
        assert vectors.shape == (1, 128) and vectors.dtype == np.float32
        np.testing.assert_allclose(vectors[0], face_pipeline.analyse(image)[0].embedding, atol=1e-6)
        return
    with pytest.raises(FaceRejectedError, match=re.escape(message)) as caught:
        face_pipeline.embed([face_photos["hopper"], image])
    assert caught.value.code == code
    assert isinstance(caught.value, EngineError) and caught.value.exit_code == 1


def test_the_refusal_carries_the_measured_quality_of_the_face_it_judged(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    with pytest.raises(FaceRejectedError) as caught:
        face_pipeline.usable_face(face_photos["cameraman"])

    assert caught.value.quality is not None and caught.value.quality.yaw_deg > 35


def test_the_pipeline_offers_what_enrollment_needs_version_dim_and_embed(face_pipeline: FacePipeline) -> None:
    assert re.fullmatch(r"dlib_resnet128@[0-9a-f]{12}", face_pipeline.version)
    assert re.fullmatch(r"mtcnn@[0-9a-f]{12}", face_pipeline.detector_version)
    assert face_pipeline.dim == 128 and face_pipeline.embed([]).shape == (0, 128)


def test_a_bad_frame_among_several_is_named_before_any_is_analysed(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    with pytest.raises(EngineError, match=re.escape("image 1: expected shape (H, W, 3)")) as caught:
        face_pipeline.analyse_many([face_photos["hopper"], np.zeros((20, 20), np.uint8)])
    assert caught.value.code == "bad_image"


def test_an_unknown_detector_is_refused_before_anything_loads(model_cache_dir) -> None:
    with pytest.raises(EngineError, match="unknown face detector 'yolo'; known: mtcnn") as caught:
        load_face_pipeline(detector="yolo", cache_dir=model_cache_dir)
    assert caught.value.code == "unknown_model"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("chip", np.zeros((112, 112, 3), np.uint8), "chip must be 150x150x3 uint8"),
        ("descriptor", np.zeros(128, np.float64), "descriptor must be a finite 1-d float32 vector"),
        ("embedding", np.full(128, np.nan, np.float32), "embedding must be a finite 1-d float32 vector"),
        ("embedding", np.ones(128, np.float32), "embedding must be the descriptor at unit length"),
    ],
    ids=["chip-size", "descriptor-dtype", "embedding-nan", "embedding-not-unit"],
)
def test_a_face_is_checked_when_built(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray], field: str, value: np.ndarray, complaint: str
) -> None:
    (face,) = face_pipeline.analyse(face_photos["astronaut"])
    parts = {name: getattr(face, name) for name in ("detection", "chip", "quality", "descriptor", "embedding")}

    with pytest.raises(ValueError, match=complaint):
        Face(**{**parts, field: value})


def test_a_filled_cache_serves_the_face_pipeline_without_importing_torch(
    face_pipeline: FacePipeline, model_cache_dir
) -> None:
    code = f"""
import sys
from engines.faces import load_face_pipeline
pipeline = load_face_pipeline(cache_dir={str(model_cache_dir)!r}, threads=1)
print(pipeline.version, pipeline.detector_version, "torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [face_pipeline.version, face_pipeline.detector_version, "False"]
