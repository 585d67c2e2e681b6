"""The entry side of a watchlist index: what a FAISS hit on an image id means for the entry that owns it.

The vectors live in FAISS; everything a match decision needs beside the score lives here, rebuilt whole from the
store's small metadata read at each revision and never changed after: which entry owns each image, each entry's
threshold, enabled flag and camera scope, and its negative examples. Hits are grouped by entry (its best image
wins), filtered by scope, enabled flag and threshold, then vetoed by the entry's negatives: a query closer to one
of them than to the entry's best reference does not match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from watchlists.embedding_changes import EmbeddingChanges, EntryColumns
from watchlists.records import Kind


@dataclass(frozen=True)
class Match:
    """An entry a query embedding matched: its best image scored at least the entry's threshold.

    A search asked for near candidates (``near_margin``) also returns entries that scored just below their
    threshold, marked ``near``: worth a closer look (a confirmation burst), never a match.
    """

    entry_id: str
    label: str
    kind: Kind
    score: float
    threshold: float
    image_id: int
    near: bool = False

    def __post_init__(self) -> None:
        if not -1.0 <= self.score <= 1.0 or (self.score < self.threshold) != self.near:
            expected = f"below threshold={self.threshold}" if self.near else f"in [threshold={self.threshold}, 1]"
            raise ValueError(f"Match.score must be {expected}, got {self.score}")


@dataclass(frozen=True, eq=False)
class EntryTable:
    """One store revision's entries of a kind, arranged for grouping and filtering FAISS hits."""

    kind: Kind
    revision: int
    entries: EntryColumns
    thresholds: np.ndarray = field(repr=False)  # (E,) per entry, the default filled in
    image_ids: np.ndarray = field(repr=False)  # (N,) ascending: exactly the ids the FAISS index holds
    entry_of_image: np.ndarray = field(repr=False)  # (N,) position in ``entries``
    negatives: np.ndarray = field(repr=False)  # (M, dim) negative examples, grouped by entry position
    negatives_from: np.ndarray = field(repr=False)  # (E + 1,) entry i's negatives are rows [from[i], from[i + 1])

    @classmethod
    def empty(cls, kind: Kind) -> EntryTable:
        """The table before the first read: no entries, revision -1 (so the first sync always reads)."""
        nothing = np.empty(0, dtype=np.int64)
        columns = EntryColumns((), (), np.empty(0), np.empty(0, bool))
        return cls(kind, -1, columns, np.empty(0), nothing, nothing, np.empty((0, 0), np.float32), np.zeros(1, int))

    @classmethod
    def from_changes(cls, changes: EmbeddingChanges, default_threshold: float) -> EntryTable:
        """The table of the revision ``changes`` was read at."""
        entries = changes.entries
        position = {entry_id: i for i, entry_id in enumerate(entries.ids)}
        negative_owner = np.array([position[e] for e in changes.negative_entry_ids], dtype=np.int64)
        order = np.argsort(negative_owner, kind="stable")
        return cls(
            kind=changes.kind,
            revision=changes.revision,
            entries=entries,
            thresholds=np.where(np.isnan(entries.thresholds), default_threshold, entries.thresholds),
            image_ids=changes.image_ids,
            entry_of_image=np.array([position[e] for e in changes.entry_ids], dtype=np.int64),
            negatives=np.ascontiguousarray(changes.negative_vectors[order]),
            negatives_from=np.searchsorted(negative_owner[order], np.arange(len(entries) + 1)),
        )

    @property
    def enabled_count(self) -> int:
        return int(self.entries.enabled.sum())

    @property
    def enabled_image_count(self) -> int:
        """Images whose entry is enabled: the ones a search can match."""
        return int(self.entries.enabled[self.entry_of_image].sum())

    def unembedded_enabled(self) -> int:
        """Enabled entries with no image embedded by this model: they cannot match until re-embedded."""
        embedded = np.zeros(len(self.entries), dtype=bool)
        embedded[self.entry_of_image] = True
        return int((self.entries.enabled & ~embedded).sum())

    def allowed(self, camera: str | None) -> np.ndarray:
        """(E,) which entries may match on this camera: enabled, and scoped to it (any camera when ``None``)."""
        allowed = self.entries.enabled.copy()
        if camera is not None:  # only the scoped entries are looked at: a search must not walk 100k entries
            for i, cameras in self.entries.cameras.items():
                allowed[i] &= camera in cameras
        return allowed

    def matches(
        self,
        allowed: np.ndarray,
        scores: np.ndarray,
        ids: np.ndarray,
        k: int,
        negatives: np.ndarray | None,
        near_margin: float = 0.0,
    ) -> list[Match]:
        """Group one query's hits by entry (best image wins); keep the allowed, over threshold (or within
        ``near_margin`` below it: ``Match.near``), not vetoed."""
        owner = self.entry_of_image[np.searchsorted(self.image_ids, ids)]
        keep = allowed[owner] & (scores >= self.thresholds[owner] - near_margin)
        scores, ids, owner = scores[keep], ids[keep], owner[keep]
        order = np.argsort(-scores, kind="stable")
        _, first = np.unique(owner[order], return_index=True)
        best = order[first]
        best = best[np.argsort(-scores[best], kind="stable")]
        if negatives is not None:
            best = best[[not self._vetoed(negatives, owner[i], scores[i]) for i in best]]
        return [
            Match(
                entry_id=self.entries.ids[owner[i]],
                label=self.entries.labels[owner[i]],
                kind=self.kind,
                score=min(float(scores[i]), 1.0),
                threshold=float(self.thresholds[owner[i]]),
                image_id=int(ids[i]),
                near=bool(scores[i] < self.thresholds[owner[i]]),
            )
            for i in best[:k]
        ]

    def _vetoed(self, negative_scores: np.ndarray, entry: int, score: float) -> bool:
        """Whether the query is closer to one of the entry's negatives than to the entry's best reference."""
        start, end = self.negatives_from[entry], self.negatives_from[entry + 1]
        return bool(end > start and negative_scores[start:end].max() > score)
