"""Re-embedding: when the model changes, embed every stored image of a kind again, from the bytes the store kept.

Embeddings are tied to a model version, so a new model starts with an empty index. ``reembed`` fills it: it finds
the images and negatives of a kind that have no embedding by the current model, decodes them from the stored bytes,
embeds them in batches (with a progress bar), and stores all the new rows in **one** transaction, so an index that
syncs meanwhile swaps from "nothing" to "everything" at once. Embeddings by older models stay (rolling back the
model is instant); an image the new model refuses (a face model that no longer finds the face) is reported and
left without an embedding, and the index warns about entries that cannot match.

Example:
    >>> report = reembed(store, "anomaly", embedder, actor="cli:alice")
    >>> report.embedded, report.refused
    (42, ())
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watchlists.embedding import Embedder, EncodedBytes, embed_encoded
from watchlists.errors import EntryNotFoundError, FileProblem
from watchlists.records import NewEmbedding, StoredImage, check_kind
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReembedReport:
    """What a re-embedding did.

    Attributes:
        kind: the kind whose images were embedded.
        model_version: the model they were embedded by.
        missing: images and negatives that had no embedding by it.
        embedded: embeddings written (fewer than ``missing`` when some were refused or removed meanwhile).
        refused: images the model refused, with the reason (``source`` names the image id and its original file).
    """

    kind: str
    model_version: str
    missing: int
    embedded: int
    refused: tuple[FileProblem, ...]


def reembed(
    store: WatchlistStore,
    kind: str,
    embedder: Embedder,
    *,
    actor: str,
    batch_size: int = 16,
    show_progress: bool = False,
    console: Console | None = None,
) -> ReembedReport:
    """Embed every stored image and negative of ``kind`` that has no embedding by ``embedder.version``.

    A no-op (one query, no model call) when nothing is missing, so it is cheap to run at every service start.

    Args:
        actor: who asked, for the audit log (``service``, ``cli:alice``).
        batch_size: images decoded and embedded together; bounds memory.
        show_progress: draw a progress bar on ``console`` (default stderr).
    """
    missing = store.unembedded(check_kind(kind), embedder.version)
    if not missing:
        return ReembedReport(kind, embedder.version, 0, 0, ())
    log.info("re-embedding %d %s images with model %s", len(missing), kind, embedder.version)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=console or Console(stderr=True), transient=True, disable=not show_progress)
    embeddings: list[NewEmbedding] = []
    refused: list[FileProblem] = []
    with progress:
        task = progress.add_task(f"re-embedding {kind} images", total=len(missing))
        for start in range(0, len(missing), batch_size):  # bytes read per batch: memory holds one batch
            chunk = missing[start : start + batch_size]
            present, encoded = _read(store, chunk)
            done = embed_encoded(encoded, embedder, batch_size=batch_size)
            embeddings += [
                NewEmbedding(image.id, image.negative, vector)
                for image, vector, ok in zip(present, done.vectors, done.accepted, strict=True)
                if ok
            ]
            refused += done.refused
            progress.advance(task, len(chunk))
    written = store.add_embeddings(embedder.version, embeddings, actor=actor)
    for problem in refused:
        log.warning("re-embedding: model %s refused %s: %s", embedder.version, problem.source, problem.reason)
    log.info("re-embedded %d %s images with model %s (%d refused)", written, kind, embedder.version, len(refused))
    return ReembedReport(kind, embedder.version, len(missing), written, tuple(refused))


def _read(store: WatchlistStore, images: Sequence[StoredImage]) -> tuple[list[StoredImage], list[EncodedBytes]]:
    """The images still stored and their bytes, each named by its id and original file; removed ones are skipped."""
    present: list[StoredImage] = []
    encoded: list[EncodedBytes] = []
    for image in images:
        try:
            data = store.image_bytes(image.id, negative=image.negative)
        except EntryNotFoundError:  # removed by an admin since the list was read
            continue
        present.append(image)
        encoded.append(EncodedBytes(f"{'negative' if image.negative else 'image'} {image.id} ({image.source})", data))
    return present, encoded
