"""SceneMatcher: frames embedded whole and as regions against a real SQLite watchlist and FAISS index; one sighting
per entry per frame, at its best region's box; camera scopes hold across a mixed batch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import cv2
import pytest

from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from streamer.demo.scenes import photo
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from watchlists.enroll import Enroller
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore

THRESHOLD = 0.72
GRID = RegionGrid.parse("3x2")
WINDOWS = GRID.boxes(1280, 720)


@pytest.fixture(scope="module")
def watchlist(tmp_path_factory: pytest.TempPathFactory, scene_embedder: SceneEmbedder) -> Iterator[WatchlistIndex]:
    """Astronaut (any camera) and rocket (lobby only), each enrolled from a tight crop of its photo."""
    folder = tmp_path_factory.mktemp("matcher")
    references = {"astronaut": photo("astronaut")[20:380, 80:440], "rocket": photo("rocket")[0:330, 100:420]}
    paths = {}
    for name, image in references.items():
        paths[name] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    store = WatchlistStore(folder / "watchlist.db")
    enroller = Enroller(store, scene_embedder, show_progress=False)
    enroller.enroll("anomaly", "Astronaut", [paths["astronaut"]], actor="test", threshold=THRESHOLD)
    enroller.enroll("anomaly", "Rocket", [paths["rocket"]], actor="test", threshold=THRESHOLD, cameras=["lobby"])
    yield WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=THRESHOLD)
    store.close()


def _frame(camera: str, astronaut_at: tuple[int, int] | None = None, rocket: bool = False) -> Keyframe:
    """A 1280x720 frame of the cat photo with a 480-pixel astronaut and/or a 560-pixel-wide rocket pasted in."""
    image = cv2.resize(photo("chelsea"), (1280, 720), interpolation=cv2.INTER_AREA)
    if astronaut_at is not None:
        x, y = astronaut_at
        image[y : y + 480, x : x + 480] = cv2.resize(photo("astronaut"), (480, 480), interpolation=cv2.INTER_AREA)
    if rocket:
        image[337:710, 710:1270] = cv2.resize(photo("rocket"), (560, 373), interpolation=cv2.INTER_AREA)
    return Keyframe(camera=camera, image=image, frame_time=datetime.now(UTC), received_at=time.monotonic())


def _matched(sightings) -> dict[str, tuple[int, int, int, int]]:
    return {s.label: s.bbox for s in sightings}


def test_each_entry_is_reported_once_per_frame_at_its_best_region(
    watchlist: WatchlistIndex, scene_embedder: SceneEmbedder
) -> None:
    frames = [_frame("lobby", astronaut_at=(20, 20), rocket=True), _frame("lobby", astronaut_at=(400, 120))]
    metrics = VigilMetrics(cameras=["lobby", "gate"])
    regions = scene_embedder.embed_regions([f.image for f in frames], GRID)

    found = SceneMatcher(watchlist, metrics).match(frames, regions)

    assert _matched(found[0]) == {"Astronaut": WINDOWS[1], "Rocket": WINDOWS[6]}
    assert [s.label for s in found[1]] == ["Astronaut"], "several windows match it; one sighting is reported"
    middle = found[1][0]
    rows = regions.vectors[regions.rows(1)] @ scene_embedder.embed([photo("astronaut")[20:380, 80:440]])[0]
    assert (rows >= THRESHOLD).sum() >= 2, "the merge is only exercised if several windows match"
    assert middle.score == pytest.approx(float(rows.max()), abs=1e-4)
    assert middle.bbox == WINDOWS[int(rows.argmax())] and middle.bbox != WINDOWS[0]
    assert [s.score for s in found[0]] == sorted((s.score for s in found[0]), reverse=True)
    assert metrics.registry.get_sample_value("vigil_matches_total", {"kind": "anomaly", "camera": "lobby"}) == 3
    assert metrics.registry.get_sample_value("vigil_matches_total", {"kind": "anomaly", "camera": "gate"}) == 0


def test_a_scoped_entry_matches_only_its_camera_within_a_mixed_batch(
    watchlist: WatchlistIndex, scene_embedder: SceneEmbedder
) -> None:
    frames = [_frame("gate", rocket=True), _frame("lobby", rocket=True), _frame("gate", astronaut_at=(20, 20))]

    found = SceneMatcher(watchlist, VigilMetrics()).match(
        frames, scene_embedder.embed_regions([f.image for f in frames])
    )

    assert [_matched(f) for f in found] == [{}, {"Rocket": WINDOWS[6]}, {"Astronaut": WINDOWS[1]}]


def test_whole_frame_embeddings_alone_report_the_whole_frame_and_miss_small_objects(
    watchlist: WatchlistIndex, scene_embedder: SceneEmbedder
) -> None:
    frames = [_frame("lobby", astronaut_at=(20, 20)), _frame("lobby")]
    frames.append(
        Keyframe(
            camera="lobby",
            image=cv2.resize(photo("astronaut")[20:380, 80:440], (640, 360)),
            frame_time=datetime.now(UTC),
            received_at=time.monotonic(),
        )
    )

    found = SceneMatcher(watchlist, VigilMetrics()).match(frames, scene_embedder.embed([f.image for f in frames]))

    assert [_matched(f) for f in found] == [{}, {}, {"Astronaut": (0, 0, 640, 360)}]


def test_embeddings_of_another_number_of_frames_are_refused(
    watchlist: WatchlistIndex, scene_embedder: SceneEmbedder
) -> None:
    frames = [_frame("lobby"), _frame("gate")]
    regions = scene_embedder.embed_regions([frames[0].image], GRID)

    with pytest.raises(ValueError, match="2 frames but embeddings of 1 frames"):
        SceneMatcher(watchlist, VigilMetrics()).match(frames, regions)


def test_no_frames_give_no_sightings(watchlist: WatchlistIndex, scene_embedder: SceneEmbedder) -> None:
    assert SceneMatcher(watchlist, VigilMetrics()).match([], scene_embedder.embed_regions([], GRID)) == []
