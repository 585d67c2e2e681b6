"""Scene regions: the grid's windows cover the frame with overlap; ``embed_regions`` embeds them with the whole frame
in one batch; and an object 40% of the frame wide, which the whole frame misses, matches its reference in a window.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.errors import EngineError
from engines.regions import RegionEmbeddings, RegionGrid
from engines.scene import SceneEmbedder
from streamer.demo.scenes import photo

THRESHOLD = 0.72  # what the demo and the pipeline tests enrol the astronaut with


@pytest.mark.parametrize(
    ("text", "columns", "rows", "per_frame"),
    [("none", 0, 0, 1), ("1x1", 1, 1, 2), ("2x2", 2, 2, 5), ("3x2", 3, 2, 7), ("4x3", 4, 3, 13)],
)
def test_a_grid_is_parsed_from_its_config_text(text: str, columns: int, rows: int, per_frame: int) -> None:
    grid = RegionGrid.parse(text)

    assert (grid.columns, grid.rows, grid.per_frame, str(grid)) == (columns, rows, per_frame, text)


@pytest.mark.parametrize(
    "text", ["", "3", "3x", "0x2", "9x9", "3X2", "3x2x1", "all", "3x2+", "none+3x2", "1x1+2x2+3x3+4x4"]
)
def test_a_grid_text_that_is_not_none_or_cxr_is_refused(text: str) -> None:
    with pytest.raises(EngineError, match="scene regions must be 'none' or 'CxR'") as caught:
        RegionGrid.parse(text)
    assert caught.value.code == "bad_regions"


@pytest.mark.parametrize(
    ("columns", "rows", "overlap"), [(0, 2, 0.25), (3, 0, 0.25), (9, 1, 0.25), (3, 2, 1.0), (3, 2, -0.1)]
)
def test_an_inconsistent_grid_is_refused_when_built(columns: int, rows: int, overlap: float) -> None:
    with pytest.raises(EngineError) as caught:
        RegionGrid(columns, rows, overlap)
    assert caught.value.code == "bad_regions"


def test_the_default_grid_on_a_720p_frame_gives_six_overlapping_windows_after_the_whole_frame() -> None:
    assert RegionGrid.parse("3x2").boxes(1280, 720) == [
        (0, 0, 1280, 720),
        (0, 0, 512, 411),
        (384, 0, 512, 411),
        (768, 0, 512, 411),
        (0, 309, 512, 411),
        (384, 309, 512, 411),
        (768, 309, 512, 411),
    ]


@pytest.mark.parametrize("text", ["2x2", "3x2", "3x3", "4x3"])
@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (640, 360), (333, 517)])
def test_windows_cover_the_frame_inside_its_edges_and_overlap_their_neighbours(
    text: str, width: int, height: int
) -> None:
    grid = RegionGrid.parse(text)
    whole, *windows = grid.boxes(width, height)
    covered = np.zeros((height, width), dtype=np.int32)
    for x, y, w, h in windows:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        covered[y : y + h, x : x + w] += 1

    assert whole == (0, 0, width, height)
    assert len(windows) == grid.columns * grid.rows
    assert covered.min() >= 1, "some pixels are in no window"
    first, second = windows[0], windows[1]
    assert first[0] + first[2] - second[0] >= 0.2 * first[2], "horizontal neighbours should share about a quarter"


def test_region_rows_of_the_whole_frame_equal_plain_embeddings(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    images = list(reference_images.values())

    regions = scene_embedder.embed_regions(images, "2x2")

    assert regions.frames == len(images) and regions.per_frame == 5
    assert regions.vectors.shape == (len(images) * 5, scene_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(regions.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(regions.whole(), scene_embedder.embed(images), rtol=0, atol=1e-6)
    for frame, image in enumerate(images):
        boxes = regions.boxes[regions.rows(frame)]
        assert [tuple(box) for box in boxes] == RegionGrid.parse("2x2").boxes(image.shape[1], image.shape[0])


def test_a_bad_image_is_refused_by_position_before_any_region_is_embedded(
    scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    with pytest.raises(EngineError, match=r"image 1: expected dtype uint8") as caught:
        scene_embedder.embed_regions([reference_images["coffee"], np.zeros((64, 64, 3), np.float32)])
    assert caught.value.code == "bad_image"


def _frame(background: str) -> np.ndarray:
    return cv2.resize(photo(background), (1280, 720), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("background", ["coffee", "chelsea", "rocket"])
@pytest.mark.parametrize(("x", "y"), [(20, 20), (748, 188), (384, 150)], ids=["top-left", "bottom-right", "middle"])
def test_an_object_40_percent_of_the_frame_wide_matches_in_a_window_where_the_whole_frame_misses(
    scene_embedder: SceneEmbedder, background: str, x: int, y: int
) -> None:
    reference = scene_embedder.embed([photo("astronaut")[20:380, 80:440]])[0]
    side = 512  # 40% of 1280
    frame = _frame(background)
    frame[y : y + side, x : x + side] = cv2.resize(photo("astronaut"), (side, side), interpolation=cv2.INTER_AREA)

    regions = scene_embedder.embed_regions([frame], "3x2")
    scores = regions.vectors @ reference

    best = int(np.argmax(scores))
    bx, by, bw, bh = regions.boxes[best]
    assert scores[0] < THRESHOLD, "the whole frame alone should not match"
    assert scores[best] >= 0.8
    assert bx <= x + side / 2 <= bx + bw and by <= y + side / 2 <= by + bh, "the best window holds the object"


@pytest.mark.parametrize("background", ["coffee", "chelsea", "rocket", "camera"])
def test_no_window_of_a_frame_without_the_object_reaches_the_threshold(
    scene_embedder: SceneEmbedder, background: str
) -> None:
    reference = scene_embedder.embed([photo("astronaut")[20:380, 80:440]])[0]

    scores = scene_embedder.embed_regions([_frame(background)], "3x2").vectors @ reference

    assert scores.max() < THRESHOLD - 0.05


@pytest.mark.parametrize(
    ("vectors", "boxes", "per_frame", "complaint"),
    [
        (np.zeros((4, 8), np.float32), np.zeros((3, 4), np.int32), 2, r"boxes must be \(4, 4\)"),
        (np.zeros((5, 8), np.float32), np.zeros((5, 4), np.int32), 2, "5 rows do not split into frames of 2"),
        (np.zeros((4, 8), np.float64), np.zeros((4, 4), np.int32), 2, "float32"),
        (np.zeros((4, 8), np.float32), np.zeros((4, 4), np.int32), 0, "per_frame must be >= 1"),
    ],
    ids=["boxes-short", "ragged", "float64", "no-rows-per-frame"],
)
def test_region_embeddings_are_checked_when_built(
    vectors: np.ndarray, boxes: np.ndarray, per_frame: int, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        RegionEmbeddings(vectors, boxes, per_frame)


def test_a_finer_grid_adds_its_smaller_windows_after_the_first_grids():
    grid = RegionGrid.parse("3x2+4x3")
    boxes = grid.boxes(1280, 720)
    assert (str(grid), grid.per_frame, len(boxes)) == ("3x2+4x3", 19, 19)
    assert boxes[:7] == RegionGrid.parse("3x2").boxes(1280, 720)  # the coarse windows keep their places
    small = boxes[7:]
    assert {(w, h) for _, _, w, h in small} == {(394, 288)}  # a fifth narrower and smaller than 3x2's 512x411
    assert min(x for x, *_ in small) == 0 and max(x + w for x, _, w, _ in small) == 1280  # edge to edge
    assert min(y for _, y, *_ in small) == 0 and max(y + h for _, y, _, h in small) == 720


def test_the_leading_rows_of_each_frame_are_the_coarser_grid_embedded_first():
    grid = RegionGrid.parse("3x2+4x3")
    frames, dim = 2, 4
    vectors = np.arange(frames * grid.per_frame * dim, dtype=np.float32).reshape(-1, dim)
    boxes = np.array(grid.boxes(1280, 720) * frames, np.int32)
    embeddings = RegionEmbeddings(vectors, boxes, grid.per_frame)

    coarse = embeddings.leading(7)

    assert (coarse.frames, coarse.per_frame) == (2, 7)
    assert np.array_equal(coarse.vectors, np.concatenate([vectors[0:7], vectors[19:26]]))
    assert coarse.boxes.tolist() == [list(box) for box in RegionGrid.parse("3x2").boxes(1280, 720)] * 2
    assert embeddings.leading(19) is embeddings
    with pytest.raises(ValueError, match=r"within 1\.\.19"):
        embeddings.leading(20)
