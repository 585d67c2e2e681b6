"""A camera's state follows what happened to it: up at a frame, reconnecting after losing it, down when hopeless."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from streamer.metrics import VigilMetrics
from streamer.sources.health import CameraHealth
from streamer.sources.status import CameraState, CameraStatus

UP, DOWN, RECONNECTING = CameraState.UP, CameraState.DOWN, CameraState.RECONNECTING


def run(events: list[str]) -> tuple[list[CameraStatus], CameraHealth, VigilMetrics]:
    metrics = VigilMetrics()
    published: list[CameraStatus] = []
    health = CameraHealth("cam", published.append, metrics.camera_up.labels(camera="cam"))
    for event in events:
        if event == "frame":
            health.frame_arrived(datetime.now(UTC))
        elif event == "failed":
            health.failed("Connection refused", 0.5, persistent=False)
        elif event == "failed_at_cap":
            health.failed("Connection refused", 30.0, persistent=True)
        elif event == "ended":
            health.ended("end of file")
        elif event == "close":
            health.close()
    return published, health, metrics


@pytest.mark.parametrize(
    ("events", "published_states"),
    [
        (["failed", "failed"], [DOWN, DOWN]),  # never up: down, with every new reason and retry
        (["frame", "frame", "frame"], [UP]),  # not one status per frame
        (["frame", "failed", "failed"], [UP, RECONNECTING, RECONNECTING]),
        (["frame", "failed", "frame"], [UP, RECONNECTING, UP]),
        (["frame", "failed", "failed_at_cap"], [UP, RECONNECTING, DOWN]),
        (["failed_at_cap", "frame"], [DOWN, UP]),
        (["frame", "ended"], [UP, DOWN]),
        (["frame", "close", "frame", "failed"], [UP, DOWN]),  # nothing after close
    ],
)
def test_states_follow_the_cameras_history(events, published_states):
    published, _, _ = run(events)

    assert [s.state for s in published] == published_states


def test_the_up_gauge_is_one_only_while_up():
    _, health, metrics = run(["frame"])
    assert metrics.registry.get_sample_value("vigil_camera_up", {"camera": "cam"}) == 1

    health.failed("stream ended", 0.5, persistent=False)

    assert metrics.registry.get_sample_value("vigil_camera_up", {"camera": "cam"}) == 0


def test_since_is_kept_while_the_state_lasts_and_reasons_and_retries_are_updated():
    published, health, _ = run(["frame", "failed"])
    health.failed("Connection refused again", 1.0, persistent=False)

    first, second = published[-2], health.status
    assert second.since == first.since
    assert (second.reason, second.next_retry_s) == ("Connection refused again", 1.0)
    assert second.last_frame_at == published[0].since


def test_an_up_status_has_no_reason_and_no_retry():
    published, _, _ = run(["failed", "frame"])

    assert published[-1].to_payload().keys() == {"state", "since", "last_frame_at"}


def test_a_status_callback_may_read_the_status_without_deadlocking():
    seen: list[CameraState] = []
    health = CameraHealth(
        "cam", lambda status: seen.append(health.status.state), VigilMetrics().camera_up.labels("cam")
    )
    reporter = threading.Thread(target=health.frame_arrived, args=(datetime.now(UTC),), daemon=True)

    reporter.start()
    reporter.join(timeout=5)

    assert not reporter.is_alive() and seen == [UP]
