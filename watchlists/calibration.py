"""Threshold calibration from the watchlist itself: how the live model scores genuine pairs (two reference images
of one entry) against impostor pairs (images of two different entries, and an entry against its own negatives).

A threshold is a trade: too low and strangers match (false alerts), too high and the person walks past. Scoring
every enrolled image against every other gives both distributions for *this* model and *these* references, so an
admin can pick the threshold that keeps false matches under a target rate, and see what it costs in missed
matches, instead of trusting a number from a paper. Pairs are sampled (without replacement) when there are too many.

Example:
    >>> result = calibrate(store, "face", "dlib_resnet128@688b5986c7d3", target_fpr=0.001)
    >>> result.suggested_threshold, result.genuine_rate_at(result.suggested_threshold)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from watchlists.records import EmbeddingSet
from watchlists.store import WatchlistStore

MAX_PAIRS = 2_000_000
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The score distributions of one kind by one model, and the threshold they suggest.

    Attributes:
        genuine: cosine similarities of pairs of images of the same entry.
        impostor: similarities of pairs from different entries, and of entries against their negatives.
        target_fpr: the false match rate the suggestion aims at (share of impostor pairs at or over it).
        suggested_threshold: the lowest threshold whose impostor rate is at most ``target_fpr``; ``None`` when
            there are no impostor pairs to measure it on.
    """

    kind: str
    model_version: str
    entries: int
    images: int
    genuine: np.ndarray = field(repr=False)
    impostor: np.ndarray = field(repr=False)
    target_fpr: float
    suggested_threshold: float | None

    def genuine_rate_at(self, threshold: float) -> float | None:
        """Share of genuine pairs that would match at ``threshold`` (``None`` without genuine pairs)."""
        return float(np.mean(self.genuine >= threshold)) if len(self.genuine) else None

    def impostor_rate_at(self, threshold: float) -> float | None:
        """Share of impostor pairs that would match at ``threshold`` (false matches; ``None`` without pairs)."""
        return float(np.mean(self.impostor >= threshold)) if len(self.impostor) else None

    def recommendation(self, configured: float) -> str:
        """The threshold to set, in words: the suggested one with its false and true match rates, the configured
        one's rates beside them, and where to set it (per entry, or for the kind)."""
        suggested = self.suggested_threshold
        if suggested is None:
            return f"no suggested threshold for {self.kind}: no impostor scores (it needs images of two or more labels)"
        return (
            f"suggested threshold for {self.kind}: {suggested:.4f}, the lowest with false matches <= "
            f"{self.target_fpr:.2%}: false matches {_rate(self.impostor_rate_at(suggested))}, true matches "
            f"{_rate(self.genuine_rate_at(suggested))} (configured {configured:.4f}: false matches "
            f"{_rate(self.impostor_rate_at(configured))}, true matches {_rate(self.genuine_rate_at(configured))})\n"
            f"  set it per entry (vigil watchlist update ID --threshold {suggested:.4f}) or for every {self.kind} "
            f"entry without its own (watchlist.default_threshold.{self.kind} in the config)"
        )

    def to_json(self, current_threshold: float) -> dict[str, Any]:
        """The report as JSON: counts, percentiles, and both rates at the suggested and the current threshold."""
        at = {"current": current_threshold, "suggested": self.suggested_threshold}
        return {
            "kind": self.kind,
            "model_version": self.model_version,
            "entries": self.entries,
            "images": self.images,
            "target_fpr": self.target_fpr,
            "suggested_threshold": self.suggested_threshold,
            "genuine": _summary(self.genuine),
            "impostor": _summary(self.impostor),
            "rates": {
                name: {"threshold": t, "genuine": self.genuine_rate_at(t), "impostor": self.impostor_rate_at(t)}
                for name, t in at.items()
                if t is not None
            },
        }


def calibrate(
    store: WatchlistStore, kind: str, model_version: str, *, target_fpr: float = 0.001, seed: int = 0
) -> Calibration:
    """Score the enrolled images of ``kind`` (embedded by ``model_version``) against each other.

    Args:
        target_fpr: the false match rate to aim at, in (0, 1).
        seed: for the pair sample, so a report can be reproduced.
    """
    if not 0 < target_fpr < 1:
        raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr}")
    data = store.embeddings(kind, model_version, enabled_only=False)
    genuine, impostor = _pair_scores(data, np.random.default_rng(seed))
    return Calibration(
        kind=kind,
        model_version=model_version,
        entries=len(set(data.entry_ids)),
        images=len(data.image_ids),
        genuine=genuine,
        impostor=impostor,
        target_fpr=target_fpr,
        suggested_threshold=threshold_for_fpr(impostor, target_fpr),
    )


def _pair_scores(data: EmbeddingSet, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor similarities among the references, plus each entry against its own negatives."""
    n = len(data.image_ids)
    _, codes = np.unique(np.array([*data.entry_ids, *data.negative_entry_ids], dtype=object), return_inverse=True)
    owners, negative_owners = codes[:n], codes[n:]
    first, second = np.triu_indices(n, k=1) if n * (n - 1) // 2 <= MAX_PAIRS else _sampled_pairs(n, rng)
    scores = np.einsum("ij,ij->i", data.vectors[first], data.vectors[second])
    same = owners[first] == owners[second]
    genuine, impostor = scores[same], scores[~same]
    if len(negative_owners) and n:
        against = data.negative_vectors @ data.vectors.T  # (M, N)
        impostor = np.concatenate([impostor, against[negative_owners[:, None] == owners[None, :]]])
    return genuine.astype(np.float64), impostor.astype(np.float64)


def _sampled_pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``MAX_PAIRS`` distinct unordered pairs drawn at random (a few duplicates do not move a percentile)."""
    first = rng.integers(0, n, MAX_PAIRS)
    second = rng.integers(0, n - 1, MAX_PAIRS)
    second += second >= first  # never a pair of an image with itself
    return np.minimum(first, second), np.maximum(first, second)


def threshold_for_fpr(impostor: np.ndarray, target_fpr: float) -> float | None:
    """The lowest threshold (to 4 decimals) at which at most ``target_fpr`` of impostor scores are at or over it."""
    if not len(impostor):
        return None
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(target_fpr * len(ordered)))  # impostor pairs that may still match
    if allowed >= len(ordered):
        return round(float(ordered[-1]), 4)
    return min(math.floor(float(ordered[allowed]) * 1e4 + 1) / 1e4, 1.0)  # just over the first that may not


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _summary(scores: np.ndarray) -> dict[str, Any]:
    if not len(scores):
        return {"pairs": 0}
    values = np.percentile(scores, PERCENTILES)
    return {
        "pairs": len(scores),
        "mean": round(float(scores.mean()), 4),
        "percentiles": {str(p): round(float(v), 4) for p, v in zip(PERCENTILES, values, strict=True)},
    }
