"""Face descriptors: dlib's same-person rule holds on real photos; batches, unit rows and bad chips behave."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engines.backends import create_backend
from engines.errors import EngineError
from engines.faces import (
    DLIB_COSINE_THRESHOLD,
    DLIB_DISTANCE_THRESHOLD,
    FaceEmbedder,
    FacePipeline,
    cosine_threshold,
    load_face_embedder,
    unit_rows,
)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


AUGMENTATIONS = {
    "mirrored": lambda image: image[:, ::-1],
    "smaller": lambda image: cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
    "brighter": lambda image: cv2.convertScaleAbs(image, alpha=1.2, beta=25),
    "jpeg-q40": lambda image: _jpeg(image, 40),
    "cropped-and-rotated": lambda image: cv2.warpAffine(
        image[20:-20, 30:], cv2.getRotationMatrix2D((200, 200), 12, 1.0), (image.shape[1] - 30, image.shape[0] - 40)
    ),
}


def _descriptor(pipeline: FacePipeline, image: np.ndarray) -> np.ndarray:
    """The largest face's descriptor (a recompressed photo can add a weak false detection on the suit's patch)."""
    faces = pipeline.analyse(np.ascontiguousarray(image))
    return max(faces, key=lambda face: face.detection.bbox[2] * face.detection.bbox[3]).descriptor


@pytest.mark.parametrize("person", ["astronaut", "hopper"])
@pytest.mark.parametrize("augmentation", list(AUGMENTATIONS))
def test_a_changed_copy_of_a_face_photo_is_the_same_person(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray], person: str, augmentation: str
) -> None:
    photo = face_photos[person]

    distance = np.linalg.norm(
        _descriptor(face_pipeline, photo) - _descriptor(face_pipeline, AUGMENTATIONS[augmentation](photo))
    )

    assert distance < DLIB_DISTANCE_THRESHOLD, distance


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(["astronaut", "hopper", "cameraman"], 2)))
def test_different_people_are_further_apart_than_dlibs_threshold(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray], first: str, second: str
) -> None:
    distance = np.linalg.norm(
        _descriptor(face_pipeline, face_photos[first]) - _descriptor(face_pipeline, face_photos[second])
    )

    assert distance > DLIB_DISTANCE_THRESHOLD, distance


def test_the_cosine_threshold_on_unit_rows_agrees_with_dlibs_distance_rule_on_real_pairs(
    face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
) -> None:
    descriptors = [_descriptor(face_pipeline, photo) for photo in face_photos.values()]
    descriptors += [_descriptor(face_pipeline, AUGMENTATIONS["smaller"](photo)) for photo in face_photos.values()]
    raw = np.stack(descriptors)
    unit = unit_rows(raw)

    same_by_distance = np.linalg.norm(raw[:, None] - raw[None], axis=2) < DLIB_DISTANCE_THRESHOLD
    same_by_cosine = unit @ unit.T > DLIB_COSINE_THRESHOLD

    np.testing.assert_array_equal(same_by_cosine, same_by_distance)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    assert 1.25 < np.linalg.norm(raw, axis=1).mean() < 1.46


@pytest.mark.parametrize(
    ("distance", "length", "cosine"), [(0.6, 1.35, 0.90123), (0.0, 1.35, 1.0), (0.5, 1.0, 0.875), (0.6, 1.2, 0.875)]
)
def test_a_raw_distance_maps_to_a_cosine_through_the_typical_descriptor_length(
    distance: float, length: float, cosine: float
) -> None:
    assert cosine_threshold(distance, length) == pytest.approx(cosine, abs=1e-5)


def test_a_batch_of_chips_equals_single_calls_and_long_inputs_are_split(
    face_embedder: FaceEmbedder, face_pipeline: FacePipeline, group_photo, model_cache_dir: Path
) -> None:
    chips = [face.chip for face in face_pipeline.analyse(group_photo[0])] * 3
    split = FaceEmbedder(
        face_embedder.spec, create_backend("onnxruntime", face_embedder.spec, cache_dir=model_cache_dir), max_batch=2
    )

    batched = face_embedder.embed(chips)

    np.testing.assert_allclose(batched, np.vstack([face_embedder.embed([chip]) for chip in chips]), atol=1e-5)
    np.testing.assert_allclose(split.embed(chips), batched, atol=1e-5)
    np.testing.assert_allclose(face_embedder.embed_unit(chips), unit_rows(batched), atol=1e-6)


def test_no_chips_give_an_empty_matrix_of_the_right_width(face_embedder: FaceEmbedder) -> None:
    assert face_embedder.embed([]).shape == (0, 128)
    assert face_embedder.embed_unit([]).shape == (0, 128)


@pytest.mark.parametrize(
    ("chip", "complaint"),
    [
        (np.zeros((160, 160, 3), np.uint8), "expected a 150x150 face chip, got (160, 160, 3)"),
        (np.zeros((150, 150, 3), np.float32), "expected dtype uint8 (RGB 0-255), got float32"),
        (np.zeros((150, 150), np.uint8), "expected shape (H, W, 3) with H, W >= 1, got (150, 150)"),
    ],
    ids=["wrong-size", "float", "grey"],
)
def test_a_chip_that_was_not_cut_for_the_network_is_refused(
    face_embedder: FaceEmbedder, chip: np.ndarray, complaint: str
) -> None:
    with pytest.raises(EngineError, match=re.escape(f"image 1: {complaint}")) as caught:
        face_embedder.embed([np.zeros((150, 150, 3), np.uint8), chip])
    assert caught.value.code == "bad_image"


def test_the_embedder_names_its_model_version_and_backend(face_embedder: FaceEmbedder) -> None:
    assert re.fullmatch(r"dlib_resnet128@[0-9a-f]{12}", face_embedder.version)
    assert (face_embedder.dim, face_embedder.chip_size, face_embedder.backend) == (128, 150, "onnxruntime")


def test_loading_a_model_that_is_not_a_face_embedder_is_refused(model_cache_dir: Path) -> None:
    with pytest.raises(EngineError, match="'mobilenet_v2' is a scene model, not a face embedder") as caught:
        load_face_embedder("mobilenet_v2", cache_dir=model_cache_dir)
    assert caught.value.code == "wrong_model_kind"
