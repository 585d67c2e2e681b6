"""A real watchlist store that records what the index reads from it, so tests can tell a delta from a rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from watchlists.embedding_changes import EmbeddingChanges
from watchlists.records import EmbeddingSet
from watchlists.store import WatchlistStore


class CountingStore(WatchlistStore):
    """``WatchlistStore`` plus a log of its vector reads.

    Attributes:
        full_reads: calls of ``embeddings`` (every vector of a kind, the read the index used to repeat on each change).
        fetched: per ``embedding_changes`` call, how many vectors it returned (only those the index did not hold).
        known: per ``embedding_changes`` call, how many ids the index said it held.
    """

    def __init__(self, database: Path | str) -> None:
        super().__init__(database)
        self.full_reads = 0
        self.fetched: list[int] = []
        self.known: list[int] = []

    def embeddings(self, kind: str, model_version: str, *, enabled_only: bool = True) -> EmbeddingSet:
        self.full_reads += 1
        return super().embeddings(kind, model_version, enabled_only=enabled_only)

    def embedding_changes(self, kind: str, model_version: str, *, known: np.ndarray | None = None) -> EmbeddingChanges:
        changes = super().embedding_changes(kind, model_version, known=known)
        self.fetched.append(len(changes.new_ids))
        self.known.append(0 if known is None else len(known))
        return changes
