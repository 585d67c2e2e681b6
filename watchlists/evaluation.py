"""Accuracy of the live model on a labelled dataset: would these references and this threshold tell the labels apart?

``calibrate`` measures the enrolled images against each other; this measures what an admin has not enrolled yet.
Each label's references are embedded in memory (the watchlist database is never opened) and every probe, and every
``_unknown`` image, is scored against them the way ``WatchlistIndex`` scores a query: cosine similarity, a label's
score being its best reference's. From those scores:

- top-1 accuracy: the best-scoring label is the probe's own (whatever the threshold);
- true-accept rate: a probe's own label scores at or over the threshold (the alert a camera would raise);
- false-accept rate: an image's best *wrong* label scores at or over it (a probe matching someone else, or an
  unknown image matching anyone): the false alerts per image a camera would raise.

The genuine scores (each probe against its own label) and impostor scores (each image against its best wrong label)
go into a ``Calibration``, so the threshold for a target false-accept rate is found by the same rule as ``vigil
calibrate``'s. Images that cannot be read, decoded or embedded (no face, two faces, too blurry) are counted under
their reason code and left out of every rate.

Example:
    >>> report = evaluate(EvaluationDataset.read(Path("photos")), embedder, kind="anomaly", threshold=0.75)
    >>> report.top1_accuracy, report.false_accept_rate
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchlists.calibration import Calibration, threshold_for_fpr
from watchlists.embedding import Embedder, EncodedBytes, embed_encoded
from watchlists.errors import FileProblem
from watchlists.evaluation_dataset import DatasetError, EvaluationDataset, read_image_bytes
from watchlists.evaluation_report import Evaluation, LabelResult, ProbeError
from watchlists.images import DEFAULT_MAX_BYTES


def evaluate(
    dataset: EvaluationDataset,
    embedder: Embedder,
    *,
    kind: str,
    threshold: float,
    target_fpr: float = 0.001,
    batch_size: int = 16,
    max_bytes: int = DEFAULT_MAX_BYTES,
    advance: Callable[[int], None] | None = None,
) -> Evaluation:
    """Embed the dataset and score every probe and unknown image against every label's references.

    Args:
        threshold: the cosine similarity a label must reach to count as matched.
        target_fpr: the false-accept rate (per image) the suggested threshold aims at, in (0, 1).
        advance: called with the number of images done after each batch (progress bars).

    Raises:
        DatasetError: every reference of some label was refused (each such label is named, with the reasons).
        EmbeddingMismatchError: the model returned rows of the wrong shape.
    """
    if not 0 < target_fpr < 1:
        raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr}")
    owners, roles, paths = _layout(dataset)
    names = [dataset.name(path) for path in paths]
    vectors, usable, rejected = _embed(names, paths, embedder, batch_size, max_bytes, advance)
    reference = (roles == "reference") & usable
    missing = [label for i, label in enumerate(dataset.labels) if not reference[owners == i].any()]
    if missing:
        raise DatasetError(_no_reference_message(missing, owners, dataset.labels, rejected, names))
    scores = _Scores.compute(vectors, owners, usable, reference, len(dataset.labels))
    probe, unknown = scores.query & (owners >= 0), scores.query & (owners < 0)
    impostor = scores.best_wrong[scores.query].astype(np.float64)
    return Evaluation(
        kind=kind,
        model_version=embedder.version,
        threshold=threshold,
        references_per_label=dataset.references_per_label,
        labels=tuple(_label_row(scores, i, dataset.labels, names, threshold) for i in range(len(dataset.labels))),
        unknown=int(unknown.sum()),
        unknown_false_accepts=int((scores.best_wrong[unknown] >= threshold).sum()),
        rejected=rejected,
        scores=Calibration(
            kind=kind,
            model_version=embedder.version,
            entries=len(dataset.labels),
            images=int(reference.sum()),
            genuine=scores.own[probe].astype(np.float64),
            impostor=impostor,
            target_fpr=target_fpr,
            suggested_threshold=threshold_for_fpr(impostor, target_fpr),
        ),
    )


@dataclass(frozen=True, eq=False)
class _Scores:
    """Every image against every label, in embedding order.

    Attributes:
        owners: each image's label index; -1 for ``_unknown`` images.
        usable: the images that embedded; ``reference`` and ``query`` (probes and unknowns) are among them.
        by_label: (images, labels) similarity to each label's best reference.
        own: similarity to the image's own label (-inf for unknowns).
        wrong: ``by_label`` with the own label masked (-inf); ``best_wrong`` its row maxima.
    """

    owners: np.ndarray
    usable: np.ndarray
    reference: np.ndarray
    query: np.ndarray
    by_label: np.ndarray
    own: np.ndarray
    wrong: np.ndarray
    best_wrong: np.ndarray

    @classmethod
    def compute(
        cls, vectors: np.ndarray, owners: np.ndarray, usable: np.ndarray, reference: np.ndarray, labels: int
    ) -> _Scores:
        pairs = vectors @ vectors[reference].T
        reference_owner = owners[reference]
        by_label = np.stack([pairs[:, reference_owner == i].max(axis=1) for i in range(labels)], axis=1)
        rows, known = np.arange(len(owners)), owners >= 0
        own = np.where(known, by_label[rows, np.maximum(owners, 0)], -np.inf)
        wrong = by_label.copy()
        wrong[rows[known], owners[known]] = -np.inf
        query = usable & ~reference
        return cls(owners, usable, reference, query, by_label, own, wrong, wrong.max(axis=1))


def _layout(dataset: EvaluationDataset) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Per image, in embedding order: its label's index (-1 for unknown), its role, its path."""
    owners: list[int] = []
    roles: list[str] = []
    paths: list[Path] = []
    for index, group in enumerate(dataset.per_label):
        for role, files in (("reference", group.references), ("probe", group.probes)):
            owners += [index] * len(files)
            roles += [role] * len(files)
            paths += files
    owners += [-1] * len(dataset.unknown)
    roles += ["unknown"] * len(dataset.unknown)
    paths += dataset.unknown
    return np.array(owners, dtype=np.int64), np.array(roles), paths


def _embed(
    names: list[str],
    paths: list[Path],
    embedder: Embedder,
    batch_size: int,
    max_bytes: int,
    advance: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray, tuple[FileProblem, ...]]:
    """Unit vectors and which images have one; unreadable files are refused like undecodable ones, in path order."""
    read = [read_image_bytes(path, max_bytes=max_bytes) for path in paths]
    problems = {i: FileProblem(names[i], r.code, r.reason) for i, r in enumerate(read) if isinstance(r, FileProblem)}
    data = {i: r for i, r in enumerate(read) if isinstance(r, bytes)}
    if advance is not None and problems:
        advance(len(problems))  # unreadable files are done too
    images = [EncodedBytes(names[i], encoded) for i, encoded in data.items()]
    result = embed_encoded(images, embedder, batch_size=batch_size, max_bytes=max_bytes, advance=advance)
    readable = list(data)
    position = {names[i]: i for i in readable}
    problems.update((position[problem.source], problem) for problem in result.refused)
    vectors = np.zeros((len(paths), result.vectors.shape[1]), dtype=np.float32)
    usable = np.zeros(len(paths), dtype=bool)
    vectors[readable], usable[readable] = result.vectors, result.accepted
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)  # cosine, as the index scores
    return vectors, usable, tuple(problems[i] for i in sorted(problems))


def _label_row(scores: _Scores, index: int, labels: tuple[str, ...], names: list[str], threshold: float) -> LabelResult:
    """One label's counts: its probes' top-1, true and false accepts, and the false accepts it draws from others."""
    mine = scores.owners == index
    probes = scores.query & mine
    best = scores.by_label.argmax(axis=1)
    errors = tuple(
        ProbeError(names[i], labels[best[i]], float(scores.by_label[i, best[i]]))
        for i in np.flatnonzero(probes & (best != index))
    )
    return LabelResult(
        label=labels[index],
        references=int((scores.reference & mine).sum()),
        probes=int(probes.sum()),
        rejected=int((~scores.usable & mine).sum()),
        top1_correct=int(probes.sum()) - len(errors),
        true_accepts=int((scores.own[probes] >= threshold).sum()),
        false_accepts=int((scores.best_wrong[probes] >= threshold).sum()),
        matched_by_others=int((scores.by_label[scores.query & ~mine, index] >= threshold).sum()),
        errors=errors,
    )


def _no_reference_message(
    missing: list[str], owners: np.ndarray, labels: tuple[str, ...], rejected: tuple[FileProblem, ...], names: list[str]
) -> str:
    lines = [
        f"no usable reference image for label {', '.join(missing)}: rename a usable photo to sort first, or raise "
        "--references; refused:"
    ]
    of_missing = {names[i] for i in np.flatnonzero(owners >= 0) if labels[owners[i]] in missing}
    lines += [f"  {p.source}: {p.reason} [{p.code}]" for p in rejected if p.source in of_missing]
    return "\n".join(lines)
