"""The alert policy: voting before open, update on a better score or a return, close after silence, cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.alerts.event import AlertKind, AlertPhase
from streamer.alerts.policy import AlertPolicy, Sighting
from streamer.config import AlertPolicyConfig

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def sighting(score: float = 0.8, entry: str = "e1") -> Sighting:
    return Sighting(
        entry_id=entry, label="Fire", kind=AlertKind.ANOMALY, score=score, threshold=0.7, bbox=(0, 0, 64, 48)
    )


def feed(policy: AlertPolicy, pattern: str, start: float = 0.0, camera: str = "cam", score: float = 0.8):
    """Feed one frame per second; 'x' = the entry matched on that frame, '.' = nothing matched."""
    events = []
    for i, mark in enumerate(pattern):
        t = start + i
        sightings = [sighting(score)] if mark == "x" else []
        events += policy.observe(camera, T0 + timedelta(seconds=t), (64, 48), t, sightings, "m@abc")
        events += policy.expire(t)
    return events


@pytest.mark.parametrize(
    ("hits", "window", "pattern", "opens"),
    [
        (2, 3, "x..", 0),  # one stray frame never alerts
        (2, 3, "x.x", 1),
        (2, 3, "x..x", 0),  # hits fell out of the window
        (1, 1, "x", 1),
        (3, 5, "xx.x", 1),
    ],
)
def test_an_event_opens_only_after_enough_votes(hits, window, pattern, opens):
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=hits, vote_window=window, close_after_s=100), "n1")
    events = feed(policy, pattern)
    assert sum(e.event is AlertPhase.OPEN for e in events) == opens


def test_a_better_score_updates_the_same_alert_and_silence_closes_it():
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=1, vote_window=1, close_after_s=3, cooldown_s=0), "n1")
    events = feed(policy, "x", score=0.8)
    events += policy.observe("cam", T0 + timedelta(seconds=1), (64, 48), 1, [sighting(0.9)], "m@abc")
    events += policy.observe("cam", T0 + timedelta(seconds=2), (64, 48), 2, [sighting(0.85)], "m@abc")
    events += policy.expire(10)
    assert [e.event for e in events] == [AlertPhase.OPEN, AlertPhase.UPDATE, AlertPhase.CLOSE]
    assert len({e.alert_id for e in events}) == 1
    assert events[-1].score == pytest.approx(0.9)
    assert events[-1].frame_time == T0 + timedelta(seconds=2)  # last seen


@pytest.mark.parametrize(
    ("pattern", "resight_after_s", "updates_at"),
    [
        ("xx....xx", 3.0, [7]),  # gone 4 s, voted in again: the operator gets the new sighting
        ("xx....x..", 3.0, []),  # one stray frame after the lull does not count
        ("xx.xx", 3.0, []),  # a one-frame gap is no lull
        ("xx....xx", 0.0, []),  # off
        ("xx...xx...xx", 3.0, [6, 11]),  # every return after a lull
    ],
)
def test_an_open_event_is_updated_when_its_entry_comes_back_after_a_lull(pattern, resight_after_s, updates_at):
    config = AlertPolicyConfig(vote_hits=2, vote_window=3, close_after_s=10, resight_after_s=resight_after_s)
    events = feed(AlertPolicy(config, "n1"), pattern, score=0.8)  # the same score: not an improvement
    assert [e.event for e in events][:1] == [AlertPhase.OPEN]
    updates = [e for e in events if e.event is AlertPhase.UPDATE]
    assert [(e.frame_time - T0).total_seconds() for e in updates] == updates_at
    assert len({e.alert_id for e in events}) == 1


def test_a_return_after_a_lull_is_unsettled_until_it_is_voted_in():
    config = AlertPolicyConfig(vote_hits=2, vote_window=3, close_after_s=10, resight_after_s=3)
    policy = AlertPolicy(config, "n1")
    feed(policy, "xx....")
    assert policy.settled("cam", "e1")  # open, nothing new to confirm: no burst
    assert feed(policy, "x", start=6) == []
    assert not policy.settled("cam", "e1")  # back after 5 s: worth a burst so the update comes soon
    assert [e.event for e in feed(policy, "x", start=7)] == [AlertPhase.UPDATE]
    assert policy.settled("cam", "e1")


def test_cooldown_suppresses_a_new_open_for_the_same_entry_and_camera():
    config = AlertPolicyConfig(vote_hits=1, vote_window=1, close_after_s=2, cooldown_s=30)
    policy = AlertPolicy(config, "n1")
    first = feed(policy, "x...")  # open at 0, close at 2
    again = feed(policy, "x", start=10)  # inside cooldown
    other_camera = feed(policy, "x", start=10, camera="cam2")
    later = feed(policy, "x", start=40)  # cooldown over
    assert [e.event for e in first] == [AlertPhase.OPEN, AlertPhase.CLOSE]
    assert again == []
    assert [e.event for e in other_camera] == [AlertPhase.OPEN]
    assert [e.event for e in later if e.camera == "cam"] == [AlertPhase.OPEN]


def test_close_all_closes_every_open_event():
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=1, vote_window=1), "n1")
    feed(policy, "x", camera="a")
    feed(policy, "x", camera="b")
    closes = policy.close_all(5)
    assert sorted(e.camera for e in closes) == ["a", "b"]
    assert all(e.event is AlertPhase.CLOSE for e in closes)


def test_state_is_forgotten_once_it_carries_no_information():
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=2, vote_window=2, cooldown_s=0), "n1")
    for i in range(200):  # 200 different identities each seen once
        policy.observe("cam", T0, (64, 48), i, [sighting(entry=f"e{i}")], "m@abc")
    policy.observe("cam", T0, (64, 48), 300, [], "m@abc")
    policy.observe("cam", T0, (64, 48), 301, [], "m@abc")
    assert len(policy._tracks) == 0


@pytest.mark.parametrize(
    ("margins", "score", "pattern", "opens"),
    [
        ({}, 0.99, "x", 0),  # no margin for the kind: one frame never opens, however strong
        ({"anomaly": 0.1}, 0.80, "x", 1),  # threshold 0.7 + 0.1: strong enough alone
        ({"anomaly": 0.1}, 0.79, "x", 0),
        ({"face": 0.1}, 0.99, "x", 0),  # a margin for another kind does not apply
        ({"anomaly": 0.1}, 0.79, "x.x", 1),  # a weaker run still opens by the vote
    ],
)
def test_a_strong_single_sighting_opens_at_once_only_over_its_kinds_margin(margins, score, pattern, opens):
    config = AlertPolicyConfig(vote_hits=2, vote_window=3, close_after_s=100, open_at_once_margin=margins)
    events = feed(AlertPolicy(config, "n1"), pattern, score=score)
    assert [e.event for e in events] == [AlertPhase.OPEN] * opens


def test_near_sightings_never_vote_and_an_open_event_is_known():
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=2, vote_window=3, close_after_s=100), "n1")
    near = Sighting(entry_id="e1", label="Fire", kind=AlertKind.ANOMALY, score=0.69, threshold=0.7, bbox=(0, 0, 1, 1),
                    near=True)  # fmt: skip
    for t in range(3):
        assert policy.observe("cam", T0 + timedelta(seconds=t), (64, 48), t, [near], "m@abc") == []
    assert not policy.settled("cam", "e1")
    assert [e.event for e in feed(policy, "xx", start=3)] == [AlertPhase.OPEN]
    assert policy.settled("cam", "e1") and not policy.settled("other", "e1")
