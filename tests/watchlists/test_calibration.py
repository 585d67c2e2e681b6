"""Calibration: genuine pairs (same entry) and impostor pairs (different entries, or an entry and its negatives) are
scored apart, and the suggested threshold is the lowest that keeps impostor matches within the target rate."""

from __future__ import annotations

import numpy as np
import pytest

from tests.watchlists.samples import TEST_MODEL, new_image, unit
from watchlists.calibration import calibrate
from watchlists.store import WatchlistStore


def _enroll(store: WatchlistStore, label: str, *vectors: np.ndarray) -> str:
    images = [new_image(v, f"{label}{i}") for i, v in enumerate(vectors)]
    return store.create_entry("face", label, images, actor="t").entry.id


def test_pairs_of_one_entry_are_genuine_and_pairs_across_entries_impostors(store: WatchlistStore) -> None:
    _enroll(store, "jane", unit(1), unit(1, 0.2), unit(1, -0.2))
    _enroll(store, "john", unit(0, 1), unit(0.2, 1))

    result = calibrate(store, "face", TEST_MODEL)

    assert (result.entries, result.images, len(result.genuine), len(result.impostor)) == (2, 5, 4, 6)
    assert result.genuine.min() > result.impostor.max()


def test_an_entrys_negatives_count_as_impostors_against_it(store: WatchlistStore) -> None:
    jane = _enroll(store, "jane", unit(1), unit(1, 0.1))
    store.add_negatives(jane, [new_image(unit(1, 0.5), "look-alike")], actor="t")

    result = calibrate(store, "face", TEST_MODEL)

    assert len(result.impostor) == 2 and result.impostor.min() > 0.8  # the look-alike is close to both


@pytest.mark.parametrize("target_fpr", [0.001, 0.05, 0.2, 0.5])
def test_the_suggested_threshold_is_the_lowest_meeting_the_target_rate(
    store: WatchlistStore, target_fpr: float
) -> None:
    rng = np.random.default_rng(3)
    for i in range(12):
        centre = rng.normal(size=8)
        _enroll(store, f"p{i}", *[unit(*(centre + rng.normal(scale=0.3, size=8))) for _ in range(3)])

    result = calibrate(store, "face", TEST_MODEL, target_fpr=target_fpr)

    threshold = result.suggested_threshold
    assert threshold is not None
    assert result.impostor_rate_at(threshold) <= target_fpr
    assert result.impostor_rate_at(threshold - 1e-4) > target_fpr  # any lower would let more impostors through
    assert 0 < result.genuine_rate_at(threshold) <= 1


def test_without_two_entries_nothing_can_be_suggested(store: WatchlistStore) -> None:
    _enroll(store, "jane", unit(1), unit(1, 0.2))

    result = calibrate(store, "face", TEST_MODEL)

    assert result.suggested_threshold is None and len(result.genuine) == 1
    assert result.to_json(0.6)["impostor"] == {"pairs": 0}


def test_the_recommendation_names_the_threshold_its_rates_the_configured_ones_and_where_to_set_it(
    store: WatchlistStore,
) -> None:
    _enroll(store, "jane", unit(1), unit(1, 0.2), unit(1, -0.2))
    _enroll(store, "john", unit(0, 1), unit(0.2, 1))
    result = calibrate(store, "face", TEST_MODEL, target_fpr=0.01)
    suggested = result.suggested_threshold
    assert suggested is not None

    text = result.recommendation(configured=-1.0)

    assert f"suggested threshold for face: {suggested:.4f}" in text and "false matches <= 1.00%" in text
    assert f"true matches {result.genuine_rate_at(suggested):.2%}" in text
    assert "(configured -1.0000: false matches 100.00%, true matches 100.00%)" in text  # every pair matches at -1
    assert f"--threshold {suggested:.4f}" in text and "watchlist.default_threshold.face" in text


def test_without_impostors_the_recommendation_says_what_is_missing(store: WatchlistStore) -> None:
    _enroll(store, "jane", unit(1), unit(1, 0.2))

    assert "two or more labels" in calibrate(store, "face", TEST_MODEL).recommendation(configured=0.945)
