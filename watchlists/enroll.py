"""Enrollment: reference images on disk to a watchlist entry, with embeddings by the live model.

Policy, chosen so a watchlist never holds an entry that is quietly missing some of its references:

- Every file is checked before anything is embedded; if *any* file is bad (unreadable, not an image, corrupt, too
  big) nothing is stored and every bad file is reported with its reason. Admins fix the files and run it again.
- The same goes for images the model refuses (a face pipeline finding no face, or two): all reported, none stored.
- An image already stored (same SHA-256, under any entry) is reported and skipped, not an error: re-running an
  enrollment is harmless. A new entry whose images are *all* already stored is refused (it could never match).
- Entry, images, embeddings and the audit row are written in one transaction.
- Negative examples ("not this") go through the same checks and the same model, and are stored per entry.

Example:
    >>> enroller = Enroller(store, load_scene_embedder())
    >>> report = enroller.enroll("anomaly", "fire", [Path("refs/fire")], actor="cli:alice")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watchlists.embedding import Embedder, embed_encoded
from watchlists.errors import ImagesRejectedError, NoNewImagesError
from watchlists.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from watchlists.records import DuplicateImage, Entry, NewImage, StoredImage, check_entry_fields, check_kind
from watchlists.sources import CheckedImage, check_images
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrollReport:
    """What an enrollment did.

    Attributes:
        entry: the entry as it is now.
        added: images (or negatives) stored by this run (``source`` says which file).
        duplicates: files skipped because the same image was already stored, and where.
        model_version: the model the new embeddings belong to; ``None`` when nothing new was embedded.
    """

    entry: Entry
    added: tuple[StoredImage, ...]
    duplicates: tuple[DuplicateImage, ...]
    model_version: str | None


class Enroller:
    """Checks, embeds and stores reference images.

    Args:
        store: where entries go.
        embedder: the model that embeds this kind's images (the one the live index uses).
        console: where progress bars go (default: stderr).
        show_progress: draw progress bars (off for the API and tests).
        batch_size: images decoded and embedded together; bounds memory.
        max_bytes, max_pixels: per-image limits (see ``watchlists.images``).
    """

    def __init__(
        self,
        store: WatchlistStore,
        embedder: Embedder,
        *,
        console: Console | None = None,
        show_progress: bool = True,
        batch_size: int = 16,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._console = console or Console(stderr=True)
        self._show_progress = show_progress
        self._batch_size = batch_size
        self._limits = {"max_bytes": max_bytes, "max_pixels": max_pixels}

    def enroll(
        self,
        kind: str,
        label: str,
        sources: Sequence[Path | CheckedImage],
        *,
        actor: str,
        threshold: float | None = None,
        cameras: Sequence[str] = (),
        notes: str = "",
    ) -> EnrollReport:
        """Create an entry from image files and folders (searched recursively), or images checked already.

        Args:
            sources: paths are expanded and checked here; ``CheckedImage`` items (uploads, or files a caller checked
                before opening the store) are taken as they are.

        Raises:
            InvalidEntryError: the label, threshold or a camera name is unusable (checked first).
            ImagesRejectedError: a file or folder is unusable, or the model refused an image; nothing stored.
            NoNewImagesError: every image is already stored; nothing stored.
        """
        check_kind(kind)
        check_entry_fields(label, threshold, cameras)
        batch = self._prepare(sources)
        if not batch.images:
            raise NoNewImagesError(_all_duplicates(batch.duplicates))
        result = self._store.create_entry(
            kind, label, batch.images, actor=actor, threshold=threshold, cameras=cameras, notes=notes
        )
        return self._report(result.entry, result.added, [*batch.duplicates, *result.duplicates], batch.copies)

    def add_images(self, entry_id: str, sources: Sequence[Path | CheckedImage], *, actor: str) -> EnrollReport:
        """Add image files and folders to an existing entry; an all-duplicate run is fine and stores nothing.

        Raises:
            EntryNotFoundError: no entry has this id (checked before any file is read).
            ImagesRejectedError: as for ``enroll``; nothing stored.
        """
        entry = self._store.get_entry(entry_id)
        batch = self._prepare(sources)
        if not batch.images:
            return self._report(entry, (), batch.duplicates, batch.copies)
        result = self._store.add_images(entry_id, batch.images, actor=actor)
        return self._report(result.entry, result.added, [*batch.duplicates, *result.duplicates], batch.copies)

    def add_negatives(self, entry_id: str, sources: Sequence[Path | CheckedImage], *, actor: str) -> EnrollReport:
        """Add negative examples ("not this") to an entry: a query closer to one of them than to the entry's
        references will not match it. Negatives the entry already has are reported and skipped.

        Raises:
            EntryNotFoundError: no entry has this id (checked before any file is read).
            ImagesRejectedError: as for ``enroll``; nothing stored.
            NegativeConflictError: an image is one of the entry's own references; nothing stored.
        """
        entry = self._store.get_entry(entry_id)
        batch = self._prepare(sources, lambda _: {n.sha256: n for n in self._store.entry_negatives(entry_id)})
        if not batch.images:
            return self._report(entry, (), batch.duplicates, batch.copies)
        result = self._store.add_negatives(entry_id, batch.images, actor=actor)
        return self._report(result.entry, result.added, [*batch.duplicates, *result.duplicates], batch.copies)

    def _prepare(
        self,
        sources: Sequence[Path | CheckedImage],
        stored: Callable[[list[str]], Mapping[str, StoredImage]] | None = None,
    ) -> _Batch:
        """Check every file, set aside what ``stored`` already holds, embed the rest: all before the store is written.

        Args:
            stored: the stored images among some hashes (default: reference images under any entry).
        """
        with self._progress() as progress:
            task = progress.add_task("checking images", total=None)
            paths = [s for s in sources if isinstance(s, Path)]
            checked = check_images(
                paths,
                **self._limits,
                on_file=lambda _: progress.advance(task),
                on_total=lambda n: progress.update(task, total=n),
            )
            checked += [s for s in sources if isinstance(s, CheckedImage)]
            known = (stored or self._store.find_images)([c.sha256 for c in checked])
            fresh, duplicates, copies = _split_duplicates(checked, known)
            if not fresh:  # nothing to embed: do not even load a deferred model
                return _Batch([], duplicates, copies)
            task = progress.add_task("embedding", total=len(fresh))
            embedded = embed_encoded(
                fresh,
                self._embedder,
                batch_size=self._batch_size,
                **self._limits,
                advance=lambda n: progress.advance(task, n),
            )
        if embedded.refused:
            raise ImagesRejectedError(embedded.refused, total=len(checked))  # every file given, duplicates too
        version = self._embedder.version
        images = [
            NewImage(c.data, c.sha256, c.media_type, c.width, c.height, c.source, vector, version)
            for c, vector in zip(fresh, embedded.vectors, strict=True)
        ]
        return _Batch(images, duplicates, copies)

    def _report(
        self,
        entry: Entry,
        added: Sequence[StoredImage],
        duplicates: Sequence[DuplicateImage],
        copies: list[CheckedImage],
    ) -> EnrollReport:
        """The report, with copies of one file within this run pointed at wherever the first copy ended up."""
        owners = {img.sha256: (img.entry_id, img.id) for img in added}
        owners.update((d.sha256, (d.entry_id, d.image_id)) for d in duplicates)
        repeats = [DuplicateImage(c.source, c.sha256, *owners[c.sha256]) for c in copies]
        log.info(
            "enrolled %d images into %s, %d duplicates skipped", len(added), entry.id, len(duplicates) + len(repeats)
        )
        version = self._embedder.version if added else None
        return EnrollReport(entry, tuple(added), (*duplicates, *repeats), version)

    def _progress(self) -> Progress:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        return Progress(*columns, console=self._console, transient=True, disable=not self._show_progress)


@dataclass(frozen=True)
class _Batch:
    """Images ready to store, images already stored, and repeated copies within the run."""

    images: list[NewImage]
    duplicates: list[DuplicateImage]
    copies: list[CheckedImage]


def _split_duplicates(
    checked: list[CheckedImage], stored: Mapping[str, StoredImage]
) -> tuple[list[CheckedImage], list[DuplicateImage], list[CheckedImage]]:
    """New images (the first copy of each), those already stored, and further copies within this run."""
    fresh: dict[str, CheckedImage] = {}
    duplicates: list[DuplicateImage] = []
    copies: list[CheckedImage] = []
    for image in checked:
        if image.sha256 in stored:
            owner = stored[image.sha256]
            duplicates.append(DuplicateImage(image.source, image.sha256, owner.entry_id, owner.id))
        elif image.sha256 in fresh:
            copies.append(image)
        else:
            fresh[image.sha256] = image
    return list(fresh.values()), duplicates, copies


def _all_duplicates(duplicates: Sequence[DuplicateImage]) -> str:
    if not duplicates:
        return "no images given"
    lines = [f"all {len(duplicates)} images are already stored, nothing created:"]
    lines += [f"  {d.source}: already in entry {d.entry_id} (image {d.image_id})" for d in duplicates]
    return "\n".join(lines)
