"""A file camera is replayed at its own frame rate: the pacer waits until each frame's time has come."""

from __future__ import annotations

import threading

import pytest

from streamer.sources.pacing import NativeRatePacer


class RecordingStop(threading.Event):
    """A stop event that records how long it was asked to wait and lets the (fake) clock move on instead."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0.0, 6))
        self.clock[0] += timeout or 0.0
        return self.is_set()


def pace(pts_list, max_wait_s=5.0, advance_per_frame=0.0):
    clock = [100.0]
    stop = RecordingStop(clock)
    pacer = NativeRatePacer(stop, max_wait_s=max_wait_s, clock=lambda: clock[0])
    for pts in pts_list:
        assert pacer.wait_for(pts)
        clock[0] += advance_per_frame
    return stop.waits


@pytest.mark.parametrize(
    ("pts_list", "expected_waits"),
    [
        ([0.0, 0.1, 0.2, 0.3], [0.1, 0.1, 0.1]),
        ([5.0, 6.0, 7.0], [1.0, 1.0]),  # a file whose first pts is not zero
        ([0.0, 0.1, None, 0.2], [0.1, 0.1]),  # no pts: delivered as it comes
        ([0.0, 0.1, 0.0, 0.1], [0.1, 0.1]),  # the file looped: a new timeline, no wait for the restart
        ([0.0, 0.1, 60.0, 60.1], [0.1, 0.1]),  # a gap longer than max_wait_s is not slept through
    ],
)
def test_each_frame_waits_for_its_presentation_time(pts_list, expected_waits):
    assert pace(pts_list) == pytest.approx(expected_waits)


def test_time_already_spent_decoding_is_not_waited_again():
    assert pace([0.0, 0.1, 0.2], advance_per_frame=0.04) == pytest.approx([0.06, 0.06])


def test_falling_far_behind_restarts_the_timeline_instead_of_a_burst():
    assert pace([0.0, 0.1, 0.2, 0.3], max_wait_s=1.0, advance_per_frame=2.0) == []


def test_a_set_stop_event_ends_the_wait_with_false():
    clock = [0.0]
    stop = RecordingStop(clock)
    pacer = NativeRatePacer(stop, clock=lambda: clock[0])
    assert pacer.wait_for(0.0)

    stop.set()

    assert not pacer.wait_for(0.5)
    assert not pacer.wait_for(None)
