"""``vigil watchlist import``: an export archive into this node's watchlist, re-embedded with this node's models.

Policy, so importing is safe to repeat and never leaves a half-checked watchlist:

- Everything is checked before anything is written: the manifest, every image's SHA-256, size and decoding, an
  entry id that exists here with another kind, and every image the model refuses. One problem, nothing imported.
- Entries keep their ids (alerts and audit rows on both nodes name the same entry). An entry that exists here
  already gets the archive's images and negatives it lacks; its own fields are left as they are here.
- An image already stored here (same SHA-256) is reported and skipped, not duplicated. A new entry whose images
  are all stored here under other entries is skipped and reported (it could never match).
- Each entry is then written in its own transaction; a re-run after an interruption finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engines.errors import VigilError
from watchlists.archive import ArchivedEntry, ArchivedImage, ArchiveReader
from watchlists.embedding import Embedder, EncodedBytes, embed_encoded
from watchlists.errors import ArchiveError, EntryNotFoundError, FileProblem, ImagesRejectedError
from watchlists.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from watchlists.records import DuplicateImage, Entry, NewImage, StoredImage
from watchlists.sources import CheckedImage, check_image_bytes
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)

ImportStatus = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True)
class EntryImport:
    """What the import did with one archived entry.

    Attributes:
        status: ``created``; ``updated`` (it existed, something was added); ``unchanged``; ``skipped`` (``reason``).
        duplicates: reference images skipped because the same bytes are already stored here, and where.
    """

    entry_id: str
    label: str
    kind: str
    status: ImportStatus
    added: tuple[StoredImage, ...] = ()
    negatives_added: tuple[StoredImage, ...] = ()
    duplicates: tuple[DuplicateImage, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    """What an import did, entry by entry, and the models the new embeddings belong to."""

    path: Path
    entries: tuple[EntryImport, ...]
    model_versions: dict[str, str] = field(default_factory=dict)

    def count(self, status: ImportStatus) -> int:
        """How many entries ended with ``status``."""
        return sum(1 for e in self.entries if e.status == status)


@dataclass
class _Planned:
    """One archived entry, what exists here, and its images still to embed (by SHA-256)."""

    archived: ArchivedEntry
    existing: Entry | None
    images: list[ArchivedImage]
    negatives: list[ArchivedImage]
    duplicates: list[DuplicateImage]
    checked: dict[str, CheckedImage] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


def import_watchlist(
    store: WatchlistStore,
    path: Path,
    embedders: Callable[[str], Embedder],
    *,
    actor: str,
    show_progress: bool = False,
    console: Console | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImportReport:
    """Import an archive written by ``export_watchlist``.

    Args:
        embedders: the model for a kind (``face`` or ``anomaly``); asked only for kinds with images to embed.
        actor: who imports, for the audit log.

    Raises:
        ArchiveError: the archive is unreadable or malformed, or an entry id exists here with another kind.
        ImagesRejectedError: images that are damaged (SHA-256), too large, not images, or refused by the model.
        FacesNotAvailableError: the archive holds face images and this node has no face pipeline.
    """
    with ArchiveReader(path, max_image_bytes=max_bytes) as reader:
        plan = [_plan(store, archived) for archived in reader.manifest.entries]
        limits = {"max_bytes": max_bytes, "max_pixels": max_pixels}
        _check(reader, plan, limits)
        models = {kind: embedders(kind) for kind in sorted({p.archived.kind for p in plan if _pending(p)})}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        console = console or Console(stderr=True)
        with Progress(*columns, console=console, transient=True, disable=not show_progress) as progress:
            for kind, model in models.items():
                _embed(reader, [p for p in plan if p.archived.kind == kind], model, progress, limits)
        results = tuple(_write(store, reader, planned, models, actor) for planned in plan)
    report = ImportReport(path, results, {kind: model.version for kind, model in models.items()})
    log.info("imported %s: %d entries created, %d updated", path, report.count("created"), report.count("updated"))
    return report


def _plan(store: WatchlistStore, archived: ArchivedEntry) -> _Planned:
    """What of this entry is new here: images not stored anywhere, negatives the local entry lacks."""
    try:
        existing: Entry | None = store.get_entry(archived.id)
    except EntryNotFoundError:
        existing = None
    if existing is not None and existing.kind != archived.kind:
        raise ArchiveError(f"entry {archived.id} is a {archived.kind} entry in the archive but {existing.kind} here")
    stored = store.find_images([image.sha256 for image in archived.images])
    images = [image for image in archived.images if image.sha256 not in stored]
    duplicates = [
        DuplicateImage(image.source, image.sha256, stored[image.sha256].entry_id, stored[image.sha256].id)
        for image in archived.images
        if image.sha256 in stored
    ]
    known = {n.sha256 for n in store.entry_negatives(existing.id)} if existing else set()
    negatives = [image for image in archived.negatives if image.sha256 not in known]
    if existing is None and not images:
        negatives = []  # the entry will be skipped: nothing of it to embed
    return _Planned(archived, existing, images, negatives, duplicates)


def _pending(planned: _Planned) -> bool:
    return bool(planned.images or planned.negatives)


def _check(reader: ArchiveReader, plan: list[_Planned], limits: dict[str, int]) -> None:
    """Read, hash-check and decode every image to import; every problem is reported, then all are refused."""
    problems: list[FileProblem] = []
    total = 0
    for planned in plan:
        for image in (*planned.images, *planned.negatives):
            total += 1
            name = f"{planned.archived.label}: {image.source or image.sha256}"
            try:
                planned.checked[image.sha256] = _metadata(check_image_bytes(name, reader.image_bytes(image), **limits))
            except VigilError as exc:
                problems.append(FileProblem(name, exc.code, exc.message))
    if problems:
        raise ImagesRejectedError(problems, total=total)


def _metadata(checked: CheckedImage) -> CheckedImage:
    """The checked image without its bytes (they are read again when written: memory holds one entry's)."""
    return CheckedImage(checked.source, b"", checked.sha256, checked.media_type, checked.width, checked.height)


def _embed(
    reader: ArchiveReader, plan: list[_Planned], model: Embedder, progress: Progress, limits: dict[str, int]
) -> None:
    """Embed the images of one kind, in batches; refusals are reported together and nothing is imported."""
    keys = [(planned, image) for planned in plan for image in (*planned.images, *planned.negatives)]
    task = progress.add_task(f"embedding with {model.version}", total=len(keys))
    refused: list[FileProblem] = []
    for start in range(0, len(keys), 16):
        chunk = keys[start : start + 16]
        encoded = [EncodedBytes(planned.checked[i.sha256].source, reader.image_bytes(i)) for planned, i in chunk]
        done = embed_encoded(encoded, model, **limits)
        for (planned, image), vector, ok in zip(chunk, done.vectors, done.accepted, strict=True):
            if ok:
                planned.vectors[image.sha256] = vector
        refused += done.refused
        progress.advance(task, len(chunk))
    if refused:
        raise ImagesRejectedError(refused, total=len(keys))


def _write(
    store: WatchlistStore, reader: ArchiveReader, planned: _Planned, models: dict[str, Embedder], actor: str
) -> EntryImport:
    """Create or complete one entry, in its own transactions."""
    archived = planned.archived
    result = {"entry_id": archived.id, "label": archived.label, "kind": archived.kind}
    if not _pending(planned):
        if planned.existing is None:
            owners = ", ".join(sorted({d.entry_id for d in planned.duplicates}))
            reason = f"all its images are already stored here (entries {owners})"
            return EntryImport(**result, status="skipped", duplicates=tuple(planned.duplicates), reason=reason)
        return EntryImport(**result, status="unchanged", duplicates=tuple(planned.duplicates))
    version = models[archived.kind].version
    images = [_new_image(reader, planned, image, version) for image in planned.images]
    negatives = [_new_image(reader, planned, image, version) for image in planned.negatives]
    added: tuple[StoredImage, ...] = ()
    if planned.existing is None:
        fields = {"threshold": archived.threshold, "cameras": archived.cameras, "notes": archived.notes}
        created = store.create_entry(
            archived.kind,
            archived.label,
            images,
            actor=actor,
            enabled=archived.enabled,
            entry_id=archived.id,
            origin=reader.path.name,
            **fields,
        )
        added = created.added
    elif images:
        added = store.add_images(archived.id, images, actor=actor).added
    negatives_added = store.add_negatives(archived.id, negatives, actor=actor).added if negatives else ()
    status: ImportStatus = "created" if planned.existing is None else "updated"
    return EntryImport(
        **result, status=status, added=added, negatives_added=negatives_added, duplicates=tuple(planned.duplicates)
    )


def _new_image(reader: ArchiveReader, planned: _Planned, image: ArchivedImage, version: str) -> NewImage:
    checked = planned.checked[image.sha256]
    data = reader.image_bytes(image)
    return NewImage(
        data,
        image.sha256,
        checked.media_type,
        checked.width,
        checked.height,
        image.source,
        planned.vectors[image.sha256],
        version,
    )
