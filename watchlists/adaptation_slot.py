"""The adaptation serving now for one kind and scene model, following the store as the index does.

Every node reads the newest stored adaptation (``WatchlistStore.save_adaptation``) with one cheap query per sync, and
swaps it in whole: a matcher reads ``current`` once per batch and never sees half of one. An adaptation that cannot
be read keeps the previous one serving.
"""

from __future__ import annotations

import logging
import threading

from watchlists.adaptation import Adaptation
from watchlists.reads import WatchlistReads

log = logging.getLogger(__name__)


class AdaptationSlot:
    """Holds the serving ``Adaptation`` (or ``None``: every entry matched by cosine).

    Args:
        store: where adaptations are stored.
        kind: ``anomaly``.
        model_version: the live scene model; adaptations of other models are never served.
    """

    def __init__(self, store: WatchlistReads, kind: str, model_version: str) -> None:
        self._store = store
        self.kind = kind
        self.model_version = model_version
        self._current: Adaptation | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> Adaptation | None:
        return self._current

    def sync(self) -> bool:
        """Serve the newest stored adaptation if it is not the one serving; ``True`` when it changed.

        Raises:
            StoreError: the database is unreachable (the serving adaptation stays).
        """
        version = self._store.adaptation_version(self.kind, self.model_version)
        with self._lock:
            if version is None or (self._current is not None and self._current.version == version):
                return False
            loaded = self._store.latest_adaptation(self.kind, self.model_version)
            if loaded is None or loaded.version == (self._current.version if self._current else None):
                return False
            self._current = loaded
        log.info(
            "%s adaptation %s serving: %d entr%s with trained heads",
            self.kind,
            loaded.version,
            len(loaded.heads),
            "y" if len(loaded.heads) == 1 else "ies",
        )
        return True

    def publish(self, adaptation: Adaptation) -> None:
        """Serve ``adaptation`` now (the node that trained it need not wait for its own next sync)."""
        if adaptation.model_version != self.model_version:
            raise ValueError(f"adaptation for {adaptation.model_version}, this slot serves {self.model_version}")
        with self._lock:
            self._current = adaptation
