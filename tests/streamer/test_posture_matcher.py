"""PostureMatcher: an entry labelled ``fall`` is sighted where a person lies down (real detector, real photos, real
SQLite watchlist), at the person's box, within its camera scope; the scene matcher leaves such entries alone even when
the frame is their own reference photo; other labels are not affected."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from engines.posture import PersonPostureDetector
from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from streamer.config import PostureConfig
from streamer.demo.scenes import photo
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.posture_matcher import PostureMatcher, entry_posture, posture_labels
from streamer.sources.frame import Keyframe
from watchlists.enroll import Enroller
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore


@pytest.fixture(scope="module")
def watchlist(tmp_path_factory: pytest.TempPathFactory, scene_embedder: SceneEmbedder) -> Iterator[WatchlistIndex]:
    """'Fall' (ward camera only), enrolled from the astronaut photo turned on its side, and 'rocket' (any camera)."""
    folder = tmp_path_factory.mktemp("posture")
    images = {"fallen": cv2.rotate(photo("astronaut"), cv2.ROTATE_90_CLOCKWISE), "rocket": photo("rocket")}
    for name, image in images.items():
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    store = WatchlistStore(folder / "watchlist.db")
    enroller = Enroller(store, scene_embedder, show_progress=False)
    enroller.enroll("anomaly", "Fall", [folder / "fallen.png"], actor="test", threshold=0.7, cameras=["ward"])
    enroller.enroll("anomaly", "rocket", [folder / "rocket.png"], actor="test", threshold=0.7)
    yield WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=0.7)
    store.close()


@pytest.fixture(scope="module")
def posture(watchlist: WatchlistIndex) -> PostureMatcher:
    return PostureMatcher(PersonPostureDetector(), watchlist, PostureConfig(), VigilMetrics())


def _frame(camera: str, person: np.ndarray | None) -> Keyframe:
    """A 1280x720 frame of grey floor with the person's photo at (600, 100)."""
    image = np.full((720, 1280, 3), 90, np.uint8)
    if person is not None:
        height, width = person.shape[:2]
        image[100 : 100 + height, 600 : 600 + width] = person
    return Keyframe(camera=camera, image=image, frame_time=datetime.now(UTC), received_at=time.monotonic())


def test_a_person_lying_down_sights_the_fall_entry_at_the_person(posture: PostureMatcher):
    lying = cv2.rotate(photo("astronaut"), cv2.ROTATE_90_COUNTERCLOCKWISE)
    frames = [_frame("ward", lying), _frame("ward", photo("astronaut")), _frame("ward", None)]
    found, standing, empty = posture.match(frames)
    assert [s.label for s in found] == ["Fall"] and standing == [] and empty == []
    (sighting,) = found
    assert 0.7 <= sighting.score <= 1.0 and sighting.threshold == 0.7
    assert sighting.model.startswith("blazepose_detector@")
    x, y, width, height = sighting.bbox
    assert x < 600 + 256 < x + width and y < 100 + 256 < y + height  # the box holds the person's middle


def test_camera_scopes_hold_and_posture_off_means_no_labels(posture: PostureMatcher):
    lying = cv2.rotate(photo("astronaut"), cv2.ROTATE_90_CLOCKWISE)
    assert posture.match([_frame("lobby", lying)]) == [[]]  # the fall entry watches the ward only
    assert posture_labels(PostureConfig(enabled=False)) == []
    assert posture_labels(PostureConfig(labels=[" Fall ", "Lying"])) == ["fall", "lying"]


def test_the_scene_matcher_skips_posture_labels_but_not_the_others(
    watchlist: WatchlistIndex, posture: PostureMatcher, scene_embedder: SceneEmbedder
):
    fallen = cv2.rotate(photo("astronaut"), cv2.ROTATE_90_CLOCKWISE)
    frames = [
        Keyframe(camera="ward", image=image, frame_time=datetime.now(UTC), received_at=time.monotonic())
        for image in (fallen, photo("rocket"))
    ]
    embeddings = scene_embedder.embed_regions([frame.image for frame in frames], RegionGrid.parse("none"))
    plain = SceneMatcher(watchlist, VigilMetrics()).match(frames, embeddings)
    skipping = SceneMatcher(watchlist, VigilMetrics(), skip_labels=posture.labels).match(frames, embeddings)
    assert [s.label for s in plain[0]] == ["Fall"]  # the reference photo itself matches by cosine...
    assert skipping[0] == []  # ...but a fall is a posture: only the posture matcher may sight it
    assert [s.label for s in skipping[1]] == [s.label for s in plain[1]] == ["rocket"]


def _scene(person: np.ndarray, x: int, seconds: float) -> Keyframe:
    """A ward keyframe ``seconds`` after a fixed moment with the person's photo, 300 pixels wide, at (x, 200)."""
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[200:500, x : x + 300] = cv2.resize(person, (300, 300), interpolation=cv2.INTER_AREA)
    moment = datetime(2026, 12, 6, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    return Keyframe(camera="ward", image=image, frame_time=moment, received_at=seconds)


@pytest.mark.parametrize(
    ("stood_at", "stood_before_s", "after_standing", "sighted"),
    [
        (300, 1.0, 0.5, True),  # stood there a keyframe ago: a fall
        (950, 1.0, 0.5, False),  # someone stood, but far from where this person lies
        (300, 9.0, 0.5, True),  # stood still there: the keyframes between were unchanged and not matched
        (300, 15.0, 0.5, False),  # too long ago to be the same moment
        (300, 1.0, 0.0, False),  # turned off
    ],
)
def test_a_person_lying_where_someone_stood_a_keyframe_ago_is_sighted_at_the_lower_threshold(
    watchlist: WatchlistIndex, stood_at: int, stood_before_s: float, after_standing: float, sighted: bool
):
    """The detector reads the astronaut turned on her side as lying, with a confidence under 0.99: with the threshold
    there, only the after-standing rule can sight her, and only once: the keyframe after is back on the threshold."""
    settings = PostureConfig(threshold=0.99, after_standing_threshold=after_standing)
    posture = PostureMatcher(PersonPostureDetector(), watchlist, settings, VigilMetrics())
    astronaut = photo("astronaut")
    lying = cv2.rotate(astronaut, cv2.ROTATE_90_CLOCKWISE)
    standing, fallen, still_lying = posture.match(
        [_scene(astronaut, stood_at, 0), _scene(lying, 300, stood_before_s), _scene(lying, 300, stood_before_s + 1)]
    )
    assert 0.5 < posture.last_score("ward") < 0.99  # the flattest person of the latest keyframe, under 0.99
    assert standing == [] and still_lying == []
    assert [(s.label, s.threshold) for s in fallen] == ([("Fall", after_standing)] if sighted else [])


def test_labels_compare_whatever_their_case_and_spacing(tmp_path, scene_embedder: SceneEmbedder):
    """An entry typed "  FALL" is matched by posture ``labels: [Fall]``, and skipped by the scene matcher."""
    fallen = cv2.rotate(photo("astronaut"), cv2.ROTATE_90_CLOCKWISE)
    cv2.imwrite(str(tmp_path / "fallen.png"), cv2.cvtColor(fallen, cv2.COLOR_RGB2BGR))
    store = WatchlistStore(tmp_path / "watchlist.db")
    enroller = Enroller(store, scene_embedder, show_progress=False)
    enroller.enroll("anomaly", "  FALL", [tmp_path / "fallen.png"], actor="test")
    index = WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=0.7)
    settings = PostureConfig(labels=["Fall"])
    posture = PostureMatcher(PersonPostureDetector(), index, settings, VigilMetrics())
    frame = _frame("ward", fallen)
    assert [s.label for s in posture.match([frame])[0]] == ["  FALL"]
    embeddings = scene_embedder.embed_regions([frame.image], RegionGrid.parse("none"))
    assert SceneMatcher(index, VigilMetrics(), skip_labels=posture.labels).match([frame], embeddings) == [[]]
    assert entry_posture("anomaly", "  FALL", settings) is not None
    store.close()


def test_a_forgotten_camera_has_no_one_standing(watchlist: WatchlistIndex):
    settings = PostureConfig(threshold=0.99, after_standing_threshold=0.5)
    posture = PostureMatcher(PersonPostureDetector(), watchlist, settings, VigilMetrics())
    lying = cv2.rotate(photo("astronaut"), cv2.ROTATE_90_CLOCKWISE)
    assert posture.match([_scene(photo("astronaut"), 300, 0)]) == [[]]
    posture.forget_camera("ward")  # a new clip in ``vigil eval``: the last one's people are not this one's
    assert posture.match([_scene(lying, 300, 1)]) == [[]]
    posture.forget_camera("ward")
    assert posture.last_score("ward") == 0.0
