"""MTCNN's box arithmetic: suppression, offsets, squaring, and crops that keep faces at the edge undistorted."""

from __future__ import annotations

import numpy as np
import pytest

from engines.faces.boxes import apply_offsets, crop_patches, non_max_suppression, squared


@pytest.mark.parametrize(
    ("boxes", "scores", "threshold", "by_smaller", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7], 0.5, False, [0, 2]),
        ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.8, 0.9, 0.7], 0.5, False, [1, 2]),
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.5, False, [0, 1]),  # IoU 1/3: both stay
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.3, False, [0]),
        ([[0, 0, 40, 40], [10, 10, 20, 20]], [0.9, 0.8], 0.7, False, [0, 1]),  # nested: IoU 1/16
        ([[0, 0, 40, 40], [10, 10, 20, 20]], [0.9, 0.8], 0.7, True, [0]),  # nested: overlap of the smaller is 1
        (np.zeros((0, 4)), [], 0.5, False, []),
    ],
    ids=["overlap-dropped", "best-first", "light-overlap-kept", "stricter", "nested-by-iou", "nested-by-min", "none"],
)
def test_suppression_keeps_the_best_box_of_each_overlapping_group(
    boxes: list, scores: list, threshold: float, by_smaller: bool, kept: list
) -> None:
    found = non_max_suppression(np.array(boxes, float), np.array(scores, float), threshold, by_smaller=by_smaller)

    assert found.tolist() == kept


def test_offsets_are_fractions_of_the_box_width_and_height() -> None:
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high

    moved = apply_offsets(boxes, np.array([[0.1, -0.25, 0.5, 0.0]]))

    np.testing.assert_allclose(moved, [[12.0, 10.0, 40.0, 60.0]])


def test_squaring_grows_the_shorter_side_around_the_same_centre() -> None:
    np.testing.assert_allclose(squared(np.array([[10.0, 20.0, 30.0, 60.0]])), [[0.0, 20.0, 40.0, 60.0]])


def test_crops_beyond_the_image_are_zero_padded_not_stretched() -> None:
    image = np.full((40, 40, 3), 200, np.uint8)

    inside, at_the_edge = crop_patches(image, np.array([[10.0, 10.0, 30.0, 30.0], [-20.0, 0.0, 20.0, 40.0]]), 24)

    assert inside.shape == (24, 24, 3) and (inside == 200).all()
    assert (at_the_edge[:, :11] == 0).all() and (at_the_edge[:, 13:] == 200).all()


def test_a_box_smaller_than_a_pixel_still_yields_a_crop() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)

    (patch,) = crop_patches(image, np.array([[1.2, 1.2, 1.3, 1.3]]), 24)

    assert patch.shape == (24, 24, 1) and np.all(patch == image[1, 1, 0])


def _greedy_reference(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """NMS as usually written: take the best remaining box, drop every remaining one overlapping it too much."""
    remaining, kept = list(np.argsort(-scores, kind="stable")), []
    while remaining:
        best, remaining = remaining[0], remaining[1:]
        kept.append(int(best))
        remaining = [other for other in remaining if _iou(boxes[best], boxes[other]) <= threshold]
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("count", [1, 40, 700])  # 700 spans three blocks of rows
def test_suppression_of_many_boxes_agrees_with_the_textbook_greedy_loop(count: int) -> None:
    generator = np.random.default_rng(count)
    corners = generator.uniform(0, 300, (count, 2))
    boxes = np.hstack([corners, corners + generator.uniform(10, 60, (count, 2))])
    scores = generator.uniform(0, 1, count)

    assert non_max_suppression(boxes, scores, 0.5).tolist() == _greedy_reference(boxes, scores, 0.5)
