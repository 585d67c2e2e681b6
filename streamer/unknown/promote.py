"""Turning a stranger into a watchlist entry: a cluster's best crops enrolled as a face entry (or added to one).

The crops go through the normal enrollment (the live face model, the store's transaction and audit row), so a
promoted entry is indistinguishable from one an admin enrolled by hand. Crops the face model refuses (a profile
that passed as a stranger but holds no usable face) are left out, as long as one crop remains.
"""

from __future__ import annotations

from pathlib import Path

from streamer.unknown.store import UnknownFaceError, UnknownFaceStore
from watchlists.embedding import Embedder
from watchlists.enroll import Enroller, EnrollReport
from watchlists.errors import ImagesRejectedError, InvalidEntryError
from watchlists.store import WatchlistStore


def promote_cluster(
    unknown: UnknownFaceStore,
    store: WatchlistStore,
    faces: Embedder,
    cluster_id: str,
    *,
    label: str | None,
    entry_id: str | None = None,
    actor: str,
) -> EnrollReport:
    """Enroll the crops of ``cluster_id`` as a new face entry ``label``, or into the existing ``entry_id``, then mark
    the cluster promoted.

    Raises:
        UnknownFaceError: no such cluster, or it keeps no crop (``no_crops``).
        InvalidEntryError, EntryNotFoundError: as ``Enroller.enroll`` / ``add_images``; ``entry_id`` is not a face
            entry.
        ImagesRejectedError: the face model refused every crop; nothing stored.
    """
    cluster = unknown.get(cluster_id)
    if entry_id is not None and (kind := store.get_entry(entry_id).kind) != "face":
        raise InvalidEntryError(f"entry {entry_id} is a {kind} entry: a cluster's crops can only join a face entry")
    paths = [unknown.crop_path(cluster.id, crop.id) for crop in cluster.crops]
    if not paths:
        raise UnknownFaceError(f"{cluster.id} keeps no crop to enroll", code="no_crops")
    enroller = Enroller(store, faces, show_progress=False)
    try:
        report = _enroll(enroller, paths, label or cluster.label, entry_id, actor)
    except ImagesRejectedError as exc:
        refused = {problem.source for problem in exc.problems}
        usable = [path for path in paths if str(path) not in refused]
        if not usable:
            raise
        report = _enroll(enroller, usable, label or cluster.label, entry_id, actor)
    unknown.mark_promoted(cluster.n, report.entry.id, actor)
    return report


def _enroll(enroller: Enroller, paths: list[Path], label: str, entry_id: str | None, actor: str) -> EnrollReport:
    if entry_id is not None:
        return enroller.add_images(entry_id, paths, actor=actor)
    return enroller.enroll("face", label, paths, actor=actor)
