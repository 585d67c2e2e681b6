"""The keyframe archive with real SQLite, real JPEG thumbnails and the real scene model on real photos."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.scene import SceneEmbedder
from streamer.archive.errors import BadTimeError
from streamer.archive.keyframes import KeyframeArchive
from streamer.archive.times import parse_time
from streamer.config import ArchiveConfig
from tests.fixtures.archive import FRAME_SIZE, T0, fill_archive, keyframe
from tests.watchlists.samples import unit

GREY = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 128, np.uint8)
SLIGHTLY_OFF = unit(1, 0.1)  # cosine ~0.995 with unit(1): the same scene
ELSEWHERE = unit(1, 1)  # cosine ~0.71 with unit(1): a changed scene


@pytest.fixture
def archive(tmp_path: Path) -> KeyframeArchive:
    opened = KeyframeArchive(tmp_path / "archive", ArchiveConfig(min_change=0.97, every_s=60), keep_days=1)
    yield opened
    opened.close()


@pytest.fixture
def filled(archive: KeyframeArchive, scene_embedder: SceneEmbedder, reference_images) -> dict[int, tuple[str, str]]:
    return fill_archive(archive, scene_embedder, reference_images)


@pytest.mark.parametrize(
    ("offered", "archived"),
    [
        ([("lobby", unit(1), 0), ("lobby", SLIGHTLY_OFF, 10), ("lobby", unit(1), 59)], 1),
        ([("lobby", unit(1), 0), ("lobby", unit(1), 60)], 2),
        ([("lobby", unit(1), 0), ("lobby", ELSEWHERE, 1)], 2),
        ([("lobby", unit(1), 0), ("gate", unit(1), 1)], 2),
        ([("lobby", unit(1), 0), ("lobby", ELSEWHERE, 1), ("lobby", ELSEWHERE, 2)], 2),
    ],
    ids=["same scene within every_s", "same scene after every_s", "changed scene", "per camera", "changed then same"],
)
def test_a_keyframe_is_archived_only_when_its_scene_changed_or_the_last_one_is_old(archive, offered, archived) -> None:
    frames = [keyframe(camera, GREY, T0 + timedelta(seconds=s)) for camera, _, s in offered]
    vectors = np.stack([vector for _, vector, _ in offered])
    recorded = sum(archive.record([f], v[None], "test@1") for f, v in zip(frames, vectors, strict=True))
    assert recorded == archived == archive.count()


def test_a_search_with_a_crop_ranks_the_keyframes_of_that_photo_first(
    archive, filled, scene_embedder: SceneEmbedder, reference_images
) -> None:
    query = scene_embedder.embed([reference_images["astronaut"][20:380, 80:440]])[0]
    found = archive.search(query, scene_embedder.version)
    assert [filled[k.id][1] for k in found][:2] == ["astronaut", "astronaut"]
    assert [k.score for k in found] == sorted((k.score for k in found), reverse=True)
    assert found[0].score > found[2].score + 0.1
    thumbnail = cv2.imread(str(found[0].thumbnail))
    assert thumbnail.shape[1] == 320 and found[0].thumbnail.suffix == ".jpg"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"camera": "gate"}, {("gate", "astronaut"), ("gate", "chelsea")}),
        ({"since": T0 + timedelta(minutes=10)}, {("lobby", "astronaut"), ("gate", "chelsea"), ("gate", "astronaut")}),
        ({"until": T0 + timedelta(minutes=10)}, {("lobby", "coffee"), ("lobby", "astronaut")}),
        ({"camera": "lobby", "since": T0 + timedelta(minutes=5)}, {("lobby", "astronaut")}),
        ({"camera": "hall"}, set()),
        ({"top_k": 1}, {("lobby", "astronaut")}),
    ],
    ids=["camera", "since", "until", "camera and since", "unknown camera", "top_k"],
)
def test_search_filters_by_camera_time_and_count(archive, filled, scene_embedder, reference_images, filters, expected):
    query = scene_embedder.embed([reference_images["astronaut"]])[0]
    found = archive.search(query, scene_embedder.version, **{"top_k": 20} | filters)
    if filters.get("top_k") == 1:  # either astronaut keyframe may be the best: both are the same photo
        assert len(found) == 1 and filled[found[0].id][1] == "astronaut"
    else:
        assert {filled[k.id] for k in found} == expected


def test_vectors_of_another_model_are_never_compared(archive, filled, scene_embedder, reference_images) -> None:
    query = scene_embedder.embed([reference_images["astronaut"]])[0]
    assert archive.search(query, "mobilenet_v2@another000000") == []


def test_a_keyframe_scores_one_against_itself_despite_float16_storage(archive, scene_embedder, reference_images):
    image = reference_images["coffee"]
    vector = scene_embedder.embed([image])
    archive.record([keyframe("lobby", image, T0)], vector, scene_embedder.version)
    assert archive.search(vector[0], scene_embedder.version)[0].score == pytest.approx(1.0, abs=1e-3)


def test_retention_prunes_old_rows_with_their_thumbnails_and_day_folders(archive: KeyframeArchive) -> None:
    now = datetime.now(UTC)
    archive.record([keyframe("lobby", GREY, now - timedelta(days=3))], unit(1)[None], "test@1")
    archive.record([keyframe("lobby", GREY, now)], ELSEWHERE[None], "test@1")
    old, new = sorted(archive.search(unit(1), "test@1"), key=lambda k: k.frame_time)
    assert old.thumbnail.is_file() and new.thumbnail.is_file()
    assert archive.prune(now) == 1
    assert not old.thumbnail.exists() and not old.thumbnail.parent.exists()
    assert archive.thumbnail(old.id) is None and archive.thumbnail(new.id) == new.thumbnail
    assert [k.id for k in archive.search(unit(1), "test@1")] == [new.id]


def test_a_write_failure_is_counted_and_leaves_nothing_while_other_cameras_go_on(archive: KeyframeArchive) -> None:
    (archive.folder / "lobby").write_text("not a folder")  # the camera's thumbnail folder cannot be made
    frames = [keyframe("lobby", GREY, T0), keyframe("gate", GREY, T0)]
    assert archive.record(frames, np.stack([unit(1), unit(1)]), "test@1") == 1
    assert archive.write_failures == 1
    assert archive.count("lobby") == 0 and archive.count("gate") == 1


def test_searches_run_while_the_pipeline_records(archive: KeyframeArchive) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    small = np.zeros((36, 64, 3), np.uint8)

    def write() -> None:
        for i, vector in enumerate(vectors):
            archive.record([keyframe("lobby", small, T0 + timedelta(seconds=i))], vector[None], "test@1")

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        assert all(k.score <= 1.001 for k in archive.search(vectors[0], "test@1", top_k=5))
    writer.join(timeout=30)
    assert archive.count() == len(vectors) and archive.write_failures == 0  # random vectors: all differ


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T14:00:00Z", datetime(2026, 11, 25, 14, tzinfo=UTC)),
        ("2026-11-25T15:00:00+01:00", datetime(2026, 11, 25, 14, tzinfo=UTC)),
        ("2026-11-25 14:00", datetime(2026, 11, 25, 14, tzinfo=UTC)),
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("yesterday", BadTimeError),
        ("25/11/2026", BadTimeError),
    ],
)
def test_times_are_iso_8601_and_utc_unless_they_say(text: str, expected) -> None:
    if expected is BadTimeError:
        with pytest.raises(BadTimeError, match="--since: not an ISO 8601 time") as raised:
            parse_time(text, "--since")
        assert raised.value.exit_code == 2
    else:
        assert parse_time(text, "--since") == expected
