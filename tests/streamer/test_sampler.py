"""The sampler keeps keyframes and bounds each camera's rate."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from streamer.config import SampleConfig
from streamer.metrics import VigilMetrics
from streamer.sampler import KeyframeSampler
from streamer.sources.frame import Keyframe

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(camera: str, t: float, key: bool = True) -> Keyframe:
    return Keyframe(camera=camera, image=IMAGE, frame_time=datetime.now(UTC), received_at=t, is_keyframe=key)


@pytest.mark.parametrize(
    ("config", "arrivals", "expected"),
    [
        (SampleConfig(max_per_second=1.0), [0.0, 0.5, 1.0, 1.5, 2.0], [True, False, True, False, True]),
        (SampleConfig(max_per_second=2.0), [0.0, 0.5, 1.0, 1.5], [True, True, True, True]),
        (SampleConfig(max_per_second=0.5), [0.0, 1.0, 2.0, 3.0, 4.0], [True, False, True, False, True]),
    ],
)
def test_the_sampler_admits_at_most_max_per_second(config, arrivals, expected):
    sampler = KeyframeSampler({"cam": config}, VigilMetrics())
    assert [sampler.admit(frame("cam", t)) for t in arrivals] == expected


def test_non_keyframes_are_dropped_when_keyframes_only():
    metrics = VigilMetrics()
    sampler = KeyframeSampler({"cam": SampleConfig(keyframes_only=True, max_per_second=30)}, metrics)
    assert not sampler.admit(frame("cam", 0.0, key=False))
    assert sampler.admit(frame("cam", 0.1, key=True))
    dropped = metrics.registry.get_sample_value(
        "vigil_frames_dropped_total", {"camera": "cam", "reason": "not_keyframe"}
    )
    assert dropped == 1


def test_cameras_are_rate_limited_independently():
    metrics = VigilMetrics()
    sampler = KeyframeSampler({}, metrics)
    assert sampler.admit(frame("a", 0.0))
    assert sampler.admit(frame("b", 0.1))
    assert not sampler.admit(frame("a", 0.2))
    assert metrics.registry.get_sample_value("vigil_keyframes_sampled_total", {"camera": "a"}) == 1
    assert metrics.registry.get_sample_value("vigil_frames_dropped_total", {"camera": "a", "reason": "rate"}) == 1


def test_a_camera_at_exactly_the_rate_loses_no_keyframe_to_jittered_arrivals():
    """Under load keyframes of a 1 fps camera arrive up to 0.9 s late (so some 0.1 s apart): all are kept."""
    metrics = VigilMetrics()
    sampler = KeyframeSampler({"cam": SampleConfig(max_per_second=1.0)}, metrics)
    jitter = [0.0, 0.3, 0.0, 0.2, 0.9, 0.0, 0.05, 0.6, 0.0, 0.1]
    arrivals = [k * 1.001 + jitter[k % len(jitter)] for k in range(100)]
    assert all(sampler.admit(frame("cam", t)) for t in arrivals)
    assert metrics.registry.get_sample_value("vigil_frames_dropped_total", {"camera": "cam", "reason": "rate"}) is None


def test_the_rate_bound_holds_over_any_window_despite_the_credit():
    """A camera sending 10 fps gets 1 per second in the long run, and at most the burst credit more in a window."""
    sampler = KeyframeSampler({"cam": SampleConfig(max_per_second=1.0)}, VigilMetrics())
    admitted = [t / 10 for t in range(600) if sampler.admit(frame("cam", t / 10))]
    assert 59 <= len(admitted) <= 61
    for start in range(0, 55):
        assert sum(start <= t < start + 5 for t in admitted) <= 5 + 2


def test_a_camera_back_from_a_pause_gets_at_most_the_burst_credit_at_once():
    sampler = KeyframeSampler({"cam": SampleConfig(max_per_second=1.0)}, VigilMetrics())
    assert sampler.admit(frame("cam", 0.0))
    assert [sampler.admit(frame("cam", 60.0 + k * 0.01)) for k in range(4)] == [True, True, False, False]
