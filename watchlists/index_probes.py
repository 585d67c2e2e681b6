"""How many IVF lists a search must probe so that it still finds what an exact search finds, per threshold.

An IVF index scans only the ``nprobe`` lists whose centroids are closest to the query; a stored vector in a list
left out is missed. A match far above its threshold sits near its reference, almost always in a list the query
probes; one barely above it may have drifted across several cells. So the probe count is measured on the stored
data itself, once per training, for a grid of thresholds, and a search picks it by the lowest threshold in play.

What is measured: near-duplicates of stored vectors, their similarity spread evenly over [t, 1) (the true matches
at threshold t), must be found ``RECALL_TARGET`` of the time. Matches barely over t are found less often (0.985 to
0.995 of them on random 128- and 1280-d vectors; the search benchmark prints both). A near-duplicate at similarity c is
``c * x + sqrt(1 - c^2) * u``, with ``u`` the unit direction from ``x`` towards another stored vector: drifting
along the data (as a relit or recropped view does) crosses cells more often than drifting in a random direction.

The measurement needs no search: the lists a search would probe are those whose centroids score highest against
the query, so a near-duplicate needs one probe plus the number of centroids that outscore its reference's own list.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""Thresholds the probe count is measured at; a search below the lowest one probes every list (exact)."""

RECALL_TARGET = 0.99
"""Share of the true matches (near-duplicates spread over [threshold, 1)) a search must find."""

SAMPLE = 2_000
"""Near-duplicates measured per training: enough for the 99th percentile to rest on 20 of them."""


@dataclass(frozen=True)
class ProbeTable:
    """Lists to probe per threshold (ascending thresholds, non-increasing probes) of one trained IVF index."""

    nlist: int
    thresholds: tuple[float, ...]
    probes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.thresholds) != len(self.probes) or not all(1 <= p <= self.nlist for p in self.probes):
            raise ValueError(f"ProbeTable needs one probe count in [1, {self.nlist}] per threshold, got {self.probes}")

    def nprobe(self, floor: float) -> int:
        """Lists to probe for a search down to ``floor``: the count of the highest grid threshold at or below it."""
        usable = [p for t, p in zip(self.thresholds, self.probes, strict=True) if t <= floor + 1e-9]
        return usable[-1] if usable else self.nlist

    def describe(self) -> str:
        """For logs: ``t:nprobe`` pairs."""
        return " ".join(f"{t:g}:{p}" for t, p in zip(self.thresholds, self.probes, strict=True))


def measure_probes(ivf: faiss.IndexIVF, unseen: np.ndarray, stored: np.ndarray, *, seed: int = 0) -> ProbeTable:
    """The probe counts of a trained ``ivf`` for near-duplicates of ``unseen`` rows (stored vectors that did not
    train it: training vectors sit closer to their centroids than the vectors added later, which would flatter the
    count), drifting towards other ``stored`` rows."""
    nlist = int(ivf.nlist)
    rng = np.random.default_rng(seed)
    count = min(SAMPLE, len(unseen))
    if count < 2 or len(stored) < 2:
        return ProbeTable(nlist, THRESHOLDS, (nlist,) * len(THRESHOLDS))
    sample = np.ascontiguousarray(unseen[rng.choice(len(unseen), count, replace=False)], dtype=np.float32)
    towards = stored[rng.integers(0, len(stored), count)]
    drift = towards - np.sum(towards * sample, axis=1, keepdims=True) * sample
    drift /= np.maximum(np.linalg.norm(drift, axis=1, keepdims=True), 1e-12)
    centroids = ivf.quantizer.reconstruct_n(0, nlist)
    _, home = ivf.quantizer.search(sample, 1)  # the list each sampled vector is stored in
    along, across = sample @ centroids.T, drift @ centroids.T  # (count, nlist): a near-duplicate's scores mix them
    rows = np.arange(count)
    spread = rng.random(count)  # where in [t, 1) each near-duplicate's similarity falls
    probes: list[int] = []
    for t in THRESHOLDS:
        similarity = (t + (1.0 - t) * spread)[:, None]
        scores = similarity * along + np.sqrt(1.0 - similarity**2) * across
        outscoring = (scores > scores[rows, home[:, 0]][:, None]).sum(axis=1)
        probes.append(int(np.quantile(outscoring + 1, RECALL_TARGET, method="higher")))
    monotone = np.maximum.accumulate(np.array(probes[::-1]))[::-1]  # a lower threshold never probes fewer lists
    return ProbeTable(nlist, THRESHOLDS, tuple(int(min(p, nlist)) for p in monotone))
