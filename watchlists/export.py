"""``vigil watchlist export``: the whole watchlist (or one kind of it) to one archive file, for another node.

What travels is what the store treats as the truth: entry fields, the original bytes of every reference image and
negative example, and their SHA-256. Embeddings stay behind (the importing node re-embeds with its own model).
The archive appears only when complete, so an interrupted export never leaves a file that looks usable.

Example:
    >>> summary = export_watchlist(store, Path("watchlist.zip"), node="node-1")
    >>> summary.entries, summary.images
    (12, 40)
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watchlists.archive import (
    MANIFEST,
    ArchivedEntry,
    ArchivedImage,
    ArchiveManifest,
    write_member,
    writing_archive,
)
from watchlists.errors import EntryNotFoundError
from watchlists.records import Entry, StoredImage
from watchlists.store import WatchlistStore


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote.

    Attributes:
        path: the archive.
        entries: entries exported.
        images: reference images exported.
        negatives: negative examples exported.
    """

    path: Path
    entries: int
    images: int
    negatives: int


def export_watchlist(store: WatchlistStore, path: Path, *, kind: str | None = None, node: str = "") -> ExportSummary:
    """Write every entry (of ``kind`` when given) with its images and negatives to a zip archive at ``path``.

    An entry removed while the export runs is left out; one added meanwhile may or may not be in it.

    Args:
        node: the exporting node's id, recorded in the manifest for whoever reads it later.
    """
    written: set[str] = set()
    archived: list[ArchivedEntry] = []
    with writing_archive(path) as archive:
        for entry in store.list_entries(kind):
            try:
                images = [_add(store, archive, image, written) for image in store.entry_images(entry.id)]
                negatives = [_add(store, archive, image, written) for image in store.entry_negatives(entry.id)]
            except EntryNotFoundError:  # removed by an admin meanwhile
                continue
            if images:
                archived.append(_archived_entry(entry, images, negatives))
        manifest = ArchiveManifest(exported_at=datetime.now(UTC), node=node, entries=tuple(archived))
        write_member(archive, MANIFEST, manifest.model_dump_json(indent=2).encode(), compress=True)
    return ExportSummary(
        path=path,
        entries=len(archived),
        images=sum(len(e.images) for e in archived),
        negatives=sum(len(e.negatives) for e in archived),
    )


def _add(store: WatchlistStore, archive: zipfile.ZipFile, image: StoredImage, written: set[str]) -> ArchivedImage:
    """Write an image's bytes once (a negative may share bytes with another entry's reference)."""
    archived = ArchivedImage(sha256=image.sha256, media_type=image.media_type, source=image.source)
    if image.sha256 not in written:
        write_member(archive, archived.member, store.image_bytes(image.id, negative=image.negative))
        written.add(image.sha256)
    return archived


def _archived_entry(entry: Entry, images: list[ArchivedImage], negatives: list[ArchivedImage]) -> ArchivedEntry:
    return ArchivedEntry(
        id=entry.id,
        kind=entry.kind,
        label=entry.label,
        notes=entry.notes,
        threshold=entry.threshold,
        cameras=entry.cameras,
        enabled=entry.enabled,
        created_at=entry.created_at,
        images=tuple(images),
        negatives=tuple(negatives),
    )
