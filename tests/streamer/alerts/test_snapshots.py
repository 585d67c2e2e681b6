"""Snapshots: the full frame with the box, a crop of the box beside it, reuse on close, expiry after keep_days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import skimage.data

from streamer.alerts.event import AlertEvent, AlertKind, AlertPhase, alert_schema
from streamer.alerts.snapshots import SnapshotWriter, crop_box, crop_path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FRAME = np.ascontiguousarray(skimage.data.astronaut()[:360, :480])  # 480x360 RGB, a face around (180..270, 60..175)


def alert(bbox: tuple[int, int, int, int], phase: AlertPhase = AlertPhase.OPEN, when: datetime = NOW) -> AlertEvent:
    return AlertEvent(
        alert_id="00000000-0000-4000-8000-000000000001",
        event=phase,
        camera="lobby",
        kind=AlertKind.FACE,
        entry_id="e1",
        label="Eileen",
        score=0.9,
        threshold=0.6,
        frame_time=when,
        bbox=bbox,
        frame_size=(FRAME.shape[1], FRAME.shape[0]),
        node_id="node-1",
        model="dlib_resnet128@0123abcd",
    )


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable JPEG"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(
    ("bbox", "crop_size"),
    [
        ((170, 50, 110, 130), (110, 130)),  # a face: cropped exactly
        ((400, 300, 200, 100), (80, 60)),  # reaches past the frame: clipped to it
        ((0, 0, 480, 360), None),  # the whole frame (scene match): no crop, it would repeat the snapshot
        ((0, 0, 600, 400), None),  # larger than the frame is still the whole frame
        ((10, 10, 0, 20), None),  # empty
    ],
)
def test_a_crop_is_written_beside_the_snapshot_only_when_the_box_is_a_region(tmp_path: Path, bbox, crop_size):
    writer = SnapshotWriter(tmp_path / "snapshots", keep_days=30)
    stamped = writer.attach(alert(bbox), FRAME)
    assert stamped.snapshot is not None and stamped.snapshot.startswith("snapshots/lobby/2026-11-25/")
    full = read_rgb(tmp_path / stamped.snapshot)
    assert full.shape == FRAME.shape
    crop_file = tmp_path / crop_path(stamped.snapshot)
    if crop_size is None:
        assert not crop_file.exists()
        return
    crop = read_rgb(crop_file)
    assert (crop.shape[1], crop.shape[0]) == crop_size
    x, y = bbox[0], bbox[1]
    region = FRAME[y : y + crop.shape[0], x : x + crop.shape[1]].astype(np.int16)
    assert np.abs(crop.astype(np.int16) - region).mean() < 6  # the same pixels, up to JPEG loss, no box drawn over


def test_the_full_frame_shows_the_box_in_red(tmp_path: Path):
    writer = SnapshotWriter(tmp_path / "snapshots", keep_days=30)
    stamped = writer.attach(alert((170, 50, 110, 130)), FRAME)
    full = read_rgb(tmp_path / stamped.snapshot).astype(int)
    left_edge = full[60:170, 170]  # pixels on the box's left side
    assert (left_edge[:, 0] > 180).all() and (left_edge[:, 1:] < 90).all()


def test_update_writes_a_new_snapshot_and_close_reuses_the_last_one(tmp_path: Path):
    writer = SnapshotWriter(tmp_path / "snapshots", keep_days=30)
    opened = writer.attach(alert((170, 50, 110, 130)), FRAME)
    updated = writer.attach(alert((172, 52, 110, 130), AlertPhase.UPDATE, NOW + timedelta(seconds=1)), FRAME)
    closed = writer.attach(alert((172, 52, 110, 130), AlertPhase.CLOSE, NOW + timedelta(seconds=9)), None)
    assert opened.snapshot != updated.snapshot
    assert closed.snapshot == updated.snapshot
    assert closed.crop == updated.crop == crop_path(updated.snapshot)
    assert all((tmp_path / p).is_file() for p in (opened.snapshot, updated.snapshot, crop_path(updated.snapshot)))


def test_a_snapshot_that_cannot_be_written_leaves_the_alert_without_one(tmp_path: Path):
    blocker = tmp_path / "snapshots"
    blocker.write_text("a file where the folder should be")
    stamped = SnapshotWriter(blocker, keep_days=30).attach(alert((170, 50, 110, 130)), FRAME)
    assert stamped.snapshot is None


@pytest.mark.parametrize(
    ("keep_days", "ages_days", "kept"),
    [
        (30, (0, 29, 31, 400), (0, 29)),
        (1, (0, 1, 2), (0, 1)),
        (0, (0, 31, 400), (0, 31, 400)),  # 0 keeps everything
    ],
)
def test_prune_removes_day_folders_older_than_keep_days(tmp_path: Path, keep_days, ages_days, kept):
    writer = SnapshotWriter(tmp_path / "snapshots", keep_days=keep_days)
    written = {}
    for age in ages_days:
        stamped = writer.attach(alert((170, 50, 110, 130), when=NOW - timedelta(days=age)), FRAME)
        written[age] = tmp_path / stamped.snapshot
    removed = writer.prune(now=NOW)
    assert removed == len(ages_days) - len(kept)
    assert {age for age, path in written.items() if path.exists()} == set(kept)
    for age in set(ages_days) - set(kept):
        assert not written[age].parent.exists()  # the day folder went, crops included


def test_crop_box_clips_to_the_frame():
    assert crop_box((-10, -10, 50, 40), (100, 80)) == (0, 0, 40, 30)
    assert crop_box((90, 70, 50, 40), (100, 80)) == (90, 70, 100, 80)
    assert crop_box((120, 10, 5, 5), (100, 80)) is None


@pytest.mark.parametrize(
    ("bbox", "crop_url"),
    [
        ((170, 50, 110, 130), "/api/v1/alerts/00000000-0000-4000-8000-000000000001/crop"),  # a region: it has a crop
        ((0, 0, 480, 360), None),  # the whole frame: no crop to link to
    ],
)
def test_the_alert_json_links_the_pictures_the_api_serves(tmp_path: Path, bbox, crop_url):
    stamped = SnapshotWriter(tmp_path / "snapshots", keep_days=30).attach(alert(bbox), FRAME)
    payload = stamped.to_payload(published_at=NOW)
    jsonschema.validate(payload, alert_schema())
    assert payload["schema_version"] == 2
    assert payload["snapshot"] == stamped.snapshot  # kept for consumers of version 1
    assert payload["snapshot_url"] == "/api/v1/alerts/00000000-0000-4000-8000-000000000001/snapshot"
    assert payload["crop_url"] == crop_url


def test_an_alert_without_a_snapshot_links_no_pictures(tmp_path: Path):
    payload = alert((170, 50, 110, 130)).to_payload(published_at=NOW)
    jsonschema.validate(payload, alert_schema())
    assert (payload["snapshot_url"], payload["crop_url"]) == (None, None)


def test_version_2_payloads_must_carry_the_picture_links_and_version_1_payloads_still_validate():
    payload = alert((170, 50, 110, 130)).to_payload(published_at=NOW)
    without_links = {k: v for k, v in payload.items() if k not in ("snapshot_url", "crop_url")}
    with pytest.raises(jsonschema.ValidationError, match="snapshot_url"):
        jsonschema.validate(without_links, alert_schema())
    jsonschema.validate(dict(without_links, schema_version=1), alert_schema())
