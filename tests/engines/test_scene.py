"""SceneEmbedder: real photos in, unit vectors out; batches agree with single calls; bad input is named."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engines.backends import create_backend
from engines.errors import EngineError
from engines.scene import SceneEmbedder, load_scene_embedder


def test_embeddings_are_float32_rows_of_unit_length(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    vectors = scene_embedder.embed(list(reference_images.values()))

    assert vectors.shape == (len(reference_images), scene_embedder.dim)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_embedder_names_its_model_version_and_backend(scene_embedder: SceneEmbedder) -> None:
    assert scene_embedder.name == "mobilenet_v2"
    assert re.fullmatch(r"mobilenet_v2@[0-9a-f]{12}", scene_embedder.version)
    assert scene_embedder.dim == 1280
    assert scene_embedder.backend == "onnxruntime"


def test_no_images_give_an_empty_matrix_of_the_right_width(scene_embedder: SceneEmbedder) -> None:
    assert scene_embedder.embed([]).shape == (0, 1280)
    assert scene_embedder.preprocess([]).shape == (0, 3, 224, 224)


def test_a_batch_of_n_images_equals_n_single_calls(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    images = list(reference_images.values())

    batched = scene_embedder.embed(images)
    single = np.vstack([scene_embedder.embed([image]) for image in images])

    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)


def test_inputs_longer_than_max_batch_are_split_without_changing_the_result(
    scene_embedder: SceneEmbedder, model_cache_dir, reference_images: dict[str, np.ndarray]
) -> None:
    images = [*reference_images.values(), *reference_images.values()]
    small_batches = SceneEmbedder(
        scene_embedder.spec, create_backend("onnxruntime", scene_embedder.spec, cache_dir=model_cache_dir), max_batch=3
    )

    np.testing.assert_allclose(small_batches.embed(images), scene_embedder.embed(images), rtol=0, atol=1e-5)


def test_views_crops_and_flips_embed_like_their_contiguous_copies(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    photo = reference_images["coffee"]
    views = [photo[50:350, 100:500], photo[:, ::-1], photo[::2, ::2], photo[..., ::-1]]

    np.testing.assert_allclose(
        scene_embedder.embed(views), scene_embedder.embed([np.ascontiguousarray(v) for v in views]), rtol=0, atol=1e-6
    )


def test_preprocessing_keeps_the_whole_frame_so_content_at_the_edges_survives(scene_embedder: SceneEmbedder) -> None:
    frame = np.full((720, 1280, 3), 128, dtype=np.uint8)
    frame[:, :64] = (255, 0, 0)  # a red band on the left 5%: a centre crop would cut it away

    batch = scene_embedder.preprocess([frame])

    red_after_normalisation = (255 - 123.675) / 58.395
    assert batch.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(batch[0, 0, :, :8], red_after_normalisation, atol=1e-4)


def test_preprocessing_subtracts_the_mean_and_divides_by_the_std_per_channel(scene_embedder: SceneEmbedder) -> None:
    spec = scene_embedder.spec
    mean_colour = np.broadcast_to(np.round(spec.mean).astype(np.uint8), (40, 60, 3))

    batch = scene_embedder.preprocess([mean_colour])

    expected = (np.round(spec.mean) - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(batch[0].mean(axis=(1, 2)), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        (np.zeros((64, 64, 3), np.float32), "expected dtype uint8 (RGB 0-255), got float32"),
        (np.zeros((64, 64), np.uint8), "expected shape (H, W, 3) with H, W >= 1, got (64, 64)"),
        (np.zeros((64, 64, 4), np.uint8), "expected shape (H, W, 3) with H, W >= 1, got (64, 64, 4)"),
        (np.zeros((0, 64, 3), np.uint8), "expected shape (H, W, 3) with H, W >= 1, got (0, 64, 3)"),
        ("frame.jpg", "expected a numpy array HxWx3 uint8 RGB, got str"),
    ],
    ids=["float32", "grayscale", "rgba", "empty", "a-path"],
)
def test_a_bad_image_is_refused_naming_its_position_what_was_expected_and_what_came(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray], bad: object, complaint: str
) -> None:
    with pytest.raises(EngineError, match=re.escape(f"image 1: {complaint}")) as caught:
        scene_embedder.embed([reference_images["rocket"], bad])
    assert caught.value.code == "bad_image"


def test_two_crops_of_one_photo_are_closer_to_each_other_than_to_unrelated_photos(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    astronaut = reference_images["astronaut"]
    crops = [astronaut[20:420, 30:430], astronaut[100:500, 90:490]]
    others = [reference_images[name] for name in ("coffee", "chelsea", "rocket")]

    vectors = scene_embedder.embed([*crops, *others])
    similarity = vectors @ vectors.T

    assert similarity[0, 1] > similarity[0, 2:].max()
    assert similarity[0, 1] > similarity[1, 2:].max()


def test_loading_an_unknown_scene_model_is_refused_before_any_export(model_cache_dir) -> None:
    with pytest.raises(EngineError, match="unknown model 'resnet9000'"):
        load_scene_embedder("resnet9000", cache_dir=model_cache_dir)
