"""Confirmation bursts stay within budget: cameras that trigger constantly, concurrency, and a backlog shed them."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from streamer.alerts.event import AlertKind
from streamer.alerts.policy import AlertPolicy, Sighting
from streamer.batcher import CrossCameraBatcher
from streamer.config import AlertPolicyConfig, BatchConfig, CameraConfig, ConfirmConfig
from streamer.confirmation import ConfirmationScheduler
from streamer.metrics import VigilMetrics
from streamer.sources.burst import BurstSwitch
from streamer.sources.camera import CameraWorker
from streamer.sources.frame import Keyframe
from tests.fixtures.rtsp import wait_until

FPS, GOP = 10, 10


def value(metrics: VigilMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def flooding_cameras(
    names: list[str], url: str, confirm: ConfirmConfig, keyframes: int
) -> tuple[VigilMetrics, list[Keyframe], int]:
    """Run real cameras whose every frame asks for a burst, until each delivered ``keyframes`` keyframes.

    Returns the metrics, the frames delivered and the most bursts seen running at once.
    """
    metrics = VigilMetrics()
    frames: list[Keyframe] = []
    most_at_once = 0
    lock = threading.Lock()
    scheduler: ConfirmationScheduler | None = None

    def on_frame(frame: Keyframe) -> None:
        nonlocal most_at_once
        with lock:
            frames.append(frame)
            most_at_once = max(most_at_once, sum(w.bursts.active for w in workers if w.bursts))
        if scheduler is not None:
            scheduler.request(frame.camera)

    camera = CameraConfig(url=url, reconnect={"open_timeout_s": 3, "stall_timeout_s": 3})
    workers = [CameraWorker(name, camera, on_frame, lambda status: None, metrics, bursts=True) for name in names]
    scheduler = ConfirmationScheduler(
        confirm, {w.name: w.bursts for w in workers if w.bursts}, metrics, backlogged=lambda: False
    )
    for worker in workers:
        worker.start()
    try:

        def enough() -> bool:
            with lock:
                return all(sum(f.is_keyframe and f.camera == n for f in frames) >= keyframes for n in names)

        assert wait_until(enough, timeout=30)
    finally:
        for worker in workers:
            worker.stop()
    return metrics, frames, most_at_once


def test_a_camera_that_triggers_constantly_gets_its_budget_of_bursts_and_every_keyframe(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory(seconds=4, fps=FPS, gop=GOP)})
    confirm = ConfirmConfig(frames=3, max_s=1.0, every_nth=2, max_bursts_per_camera_per_min=2)

    metrics, frames, _ = flooding_cameras(["cam"], server.url("cam"), confirm, keyframes=6)

    assert value(metrics, "vigil_confirm_bursts_total", camera="cam", outcome="started") == 2
    assert value(metrics, "vigil_confirm_bursts_total", camera="cam", outcome="shed_camera") >= 3
    burst = [f for f in frames if f.burst]
    assert 2 <= len(burst) <= 2 * confirm.frames
    keyframe_pts = [round(f.pts * FPS) for f in frames if f.is_keyframe and f.pts is not None]
    assert all((b - a) % (4 * FPS) == GOP for a, b in itertools.pairwise(keyframe_pts))  # none lost
    decoded_for_bursts = value(metrics, "vigil_frames_decoded_by_reason_total", camera="cam", reason="burst")
    assert 2 * confirm.frames * confirm.every_nth <= decoded_for_bursts + 2 <= 2 * (GOP + 3)
    at_rest = value(metrics, "vigil_frames_decoded_by_reason_total", camera="cam", reason="keyframe")
    assert at_rest == len([f for f in frames if not f.burst])
    assert value(metrics, "vigil_frames_decoded_total", camera="cam") == at_rest + decoded_for_bursts


def test_no_more_bursts_run_at_once_than_the_node_allows(clip_factory, rtsp_server):
    clip = clip_factory(seconds=4, fps=FPS, gop=GOP)
    server = rtsp_server({"a": clip})
    confirm = ConfirmConfig(frames=20, max_s=2.0, every_nth=2, max_bursts_per_camera_per_min=100, max_concurrent=1)

    metrics, _, most_at_once = flooding_cameras(["a", "b"], server.url("a"), confirm, 4)

    assert most_at_once == 1
    shed = sum(value(metrics, "vigil_confirm_bursts_total", camera=c, outcome="shed_concurrent") for c in "ab")
    assert shed >= 1


IMAGE = np.zeros((4, 4, 3), np.uint8)


def sampled(name: str) -> Keyframe:
    """A keyframe (``K...``) or a burst frame (``B...``) of camera ``cam``."""
    burst = name.startswith("B")
    return Keyframe(
        camera="cam", image=IMAGE, frame_time=datetime.now(UTC), received_at=time.monotonic(), pts=float(name[1:]),
        is_keyframe=not burst, burst=burst,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("queued", "arriving", "left", "reason"),
    [
        ("K1 K2 K3", "K4", "K2 K3 K4", "backpressure"),  # keyframes only: the oldest goes, as before
        ("K1 B2 K3", "K4", "K1 K3 K4", "backpressure_burst"),  # a burst frame goes before any keyframe
        ("B1 B2 K3", "B4", "B2 K3 B4", "backpressure_burst"),  # the oldest burst frame goes
        ("K1 K2 K3", "B4", "K1 K2 K3", "backpressure_burst"),  # a burst frame never pushes a keyframe out
    ],
)
def test_under_backpressure_burst_frames_are_shed_and_keyframes_are_not(queued, arriving, left, reason):
    metrics = VigilMetrics()
    batcher = CrossCameraBatcher(BatchConfig(max_batch=8, max_wait_ms=0, per_camera_queue=3), metrics)
    for name in queued.split():
        batcher.put(sampled(name))

    batcher.put(sampled(arriving))

    kept = batcher.next_batch(timeout=1)
    assert " ".join(f"{'B' if f.burst else 'K'}{f.pts:g}" for f in kept) == left
    assert value(metrics, "vigil_frames_dropped_total", camera="cam", reason=reason) == 1


@pytest.mark.parametrize(
    ("backlogged", "busy_cameras", "expected"),
    [(False, 0, "started"), (True, 0, "shed_load"), (False, 2, "shed_concurrent"), (True, 2, "shed_concurrent")],
)
def test_a_request_is_shed_while_the_engine_is_behind_or_the_node_is_busy(backlogged, busy_cameras, expected):
    switches = {name: BurstSwitch() for name in ("cam", "x", "y")}
    metrics = VigilMetrics()
    behind = [False]
    scheduler = ConfirmationScheduler(ConfirmConfig(max_concurrent=2), switches, metrics, lambda: behind[0])
    for name in ("x", "y")[:busy_cameras]:
        assert scheduler.request(name) == "started"
    behind[0] = backlogged

    assert scheduler.request("cam") == expected
    assert value(metrics, "vigil_confirm_bursts_total", camera="cam", outcome=expected) == 1
    assert switches["cam"].active == (expected == "started")
    assert scheduler.request("cam") is None or expected != "started"  # a running burst serves later requests


def test_bursts_off_asks_nothing():
    switches = {"cam": BurstSwitch()}
    scheduler = ConfirmationScheduler(ConfirmConfig(enabled=False), switches, VigilMetrics(), lambda: False)
    assert scheduler.request("cam") is None and not switches["cam"].active


def test_bursts_are_asked_for_and_voted_on_by_the_kinds_they_confirm():
    """Faces only by default: a burst frame a fraction of a second after its keyframe would copy a stray anomaly
    hit's vote."""
    fire = Sighting("e1", "fire", AlertKind.ANOMALY, 0.9, 0.7, (0, 0, 10, 10))
    face = Sighting("e2", "ada", AlertKind.FACE, 0.96, 0.945, (0, 0, 10, 10))
    image = np.zeros((8, 8, 3), np.uint8)
    keyframe = Keyframe("cam", image, datetime.now(UTC), 0.0, pts=1.0, is_keyframe=True)
    burst = Keyframe("cam", image, datetime.now(UTC), 0.2, pts=1.2, is_keyframe=False, burst=True)
    for kinds, asks in ((["face"], [False, True]), (["face", "anomaly"], [True, True])):
        confirm = ConfirmConfig(kinds=kinds)
        asked = []
        for sightings in ([fire], [fire, face]):
            switch = BurstSwitch()
            scheduler = ConfirmationScheduler(confirm, {"cam": switch}, VigilMetrics(), backlogged=lambda: False)
            scheduler.follow("cam", sightings, AlertPolicy(AlertPolicyConfig(), "node"))
            asked.append(switch.active)
            assert scheduler.votes(keyframe, sightings) == sightings
            assert scheduler.votes(burst, sightings) == [s for s in sightings if s.kind in kinds]
        assert asked == asks, kinds
