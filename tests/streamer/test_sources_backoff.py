"""Reconnect delays grow exponentially, stay within their jitter and never pass the cap."""

from __future__ import annotations

import random

import pytest

from streamer.config import ReconnectConfig
from streamer.sources.backoff import ReconnectBackoff


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"initial_s": 0.5, "multiplier": 2.0, "max_s": 30.0}, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
        ({"initial_s": 1.0, "multiplier": 3.0, "max_s": 10.0}, [1.0, 3.0, 9.0, 10.0, 10.0]),
        ({"initial_s": 2.0, "multiplier": 1.0, "max_s": 5.0}, [2.0, 2.0, 2.0]),
        ({"initial_s": 50.0, "multiplier": 2.0, "max_s": 30.0}, [30.0, 30.0]),
    ],
)
def test_without_jitter_delays_grow_by_the_multiplier_up_to_the_cap(settings, expected):
    backoff = ReconnectBackoff(ReconnectConfig(jitter=0.0, **settings))

    assert [backoff.next_delay() for _ in expected] == pytest.approx(expected)


def test_jittered_delays_stay_within_their_fraction_and_under_the_cap():
    config = ReconnectConfig(initial_s=1.0, multiplier=2.0, max_s=8.0, jitter=0.25)
    backoff = ReconnectBackoff(config, random.Random(7))

    delays = [backoff.next_delay() for _ in range(200)]

    bases = [1.0, 2.0, 4.0] + [8.0] * 197
    assert all(base * 0.75 <= d <= min(base * 1.25, 8.0) for base, d in zip(bases, delays, strict=True))
    assert len({round(d, 6) for d in delays[3:]}) > 100, "jitter should spread delays at the cap"


def test_the_same_seed_gives_the_same_delays():
    config = ReconnectConfig(jitter=0.5)

    first = [ReconnectBackoff(config, random.Random(42)).next_delay() for _ in range(3)]
    second = [ReconnectBackoff(config, random.Random(42)).next_delay() for _ in range(3)]

    assert first == second


def test_reset_starts_again_from_the_initial_delay_and_forgets_the_failures():
    backoff = ReconnectBackoff(ReconnectConfig(initial_s=0.5, multiplier=2.0, max_s=1.0, jitter=0.0))
    backoff.next_delay()
    backoff.next_delay()
    assert (backoff.failures, backoff.at_cap) == (2, True)

    backoff.reset()

    assert (backoff.failures, backoff.at_cap) == (0, False)
    assert backoff.next_delay() == 0.5


def test_at_cap_turns_true_with_the_first_delay_that_reaches_the_cap():
    backoff = ReconnectBackoff(ReconnectConfig(initial_s=1.0, multiplier=2.0, max_s=4.0, jitter=0.0))

    seen = []
    for _ in range(4):
        backoff.next_delay()
        seen.append(backoff.at_cap)

    assert seen == [False, False, True, True]


def test_a_camera_dead_for_years_still_gets_the_capped_delay():
    backoff = ReconnectBackoff(ReconnectConfig(initial_s=0.5, multiplier=10.0, max_s=30.0, jitter=0.0))

    delays = [backoff.next_delay() for _ in range(5000)]

    assert delays[-1] == 30.0
