"""Few-shot adaptation: a small trained head per anomaly entry on top of the frozen scene model.

Cosine similarity against a few reference photos does not tell fire from an orange living room: on the development
set real fire frames scored 0.56-0.69 against fire references while fire-free scenes reached 0.73. What separates
them is a direction in feature space that the references alone do not show, so Vigil learns it: each entry gets a
logistic-regression head (one weight vector and a bias over the backbone's 1280 features) trained on many
augmented views of its photos against everything it must not match (``watchlists.adaptation_training``). The head
gives a probability-like score in [0, 1] for every region of a keyframe; a frame's score is its best region's.

Chosen by measurement on the development set (per-frame AUC of the best region, MobileNetV2 features, heads
trained on 24 augmented views per photo; README "Few-shot adaptation" has the event-level figures): cosine against
the references scored fire 0.82, smoke 0.64, handgun 0.997, fall 0.976, crowd 1.00; the linear heads scored fire
0.98, smoke 1.00, handgun 0.99, fall 0.95, crowd 1.00. A linear head needs no GPU, trains in seconds on 2 cores and
cannot memorise a handful of photos the way a deeper head or a fine-tuned backbone can.

An ``Adaptation`` is a versioned artefact: it names the scene model it was trained for, the watchlist revision and
a digest of every input (images, negatives, background rows, settings), and is stored with the watchlist so every
node serves the same one. Entries enrolled after it was trained are matched by cosine until the next training.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np

from watchlists.concepts import ConceptEvidence

WEAK_RECALL = 0.5
"""Held-back recall under which an admin is told that more photos would help: a head that misses most views of
photos it never saw has learnt those few photos, not the thing (5 fire photos: 8% on the development set's, 15: 39%)."""
HOLD_OUT_EVERY = 5
"""Training holds back every fifth photo of an entry (and of the generic set, and a fifth of the background) to
calibrate and validate on; an entry with fewer photos is validated on new views of the very photos it learnt."""


@dataclass(frozen=True)
class EntryHead:
    """What an entry's training produced and how it did on examples it never saw.

    Attributes:
        entry_id: the watchlist entry.
        label: its label when trained (for reports; alerts use the entry's current label).
        threshold: the head score an alert needs, calibrated on held-out negatives.
        references: reference photos it learnt from.
        negatives: examples it learnt to refuse (entry negatives, other entries, generic scenes, background).
        validation_recall: share of held-out views of its photos scoring at or above ``threshold``.
        validation_fpr: share of held-out negative regions scoring at or above ``threshold``.
        concepts: ImageNet classes its references show (``engines.imagenet_classifier``), by name; empty when the
            classifier does not recognise them.
        concept_classes: the same classes as ImageNet indices.
        concept_threshold: the summed probability of ``concepts`` that counts as a sighting (NaN without concepts).
    """

    entry_id: str
    label: str
    threshold: float
    references: int
    negatives: int
    validation_recall: float
    validation_fpr: float
    concepts: tuple[str, ...] = ()
    concept_classes: tuple[int, ...] = ()
    concept_threshold: float = float("nan")

    @property
    def advice(self) -> str | None:
        """What an admin could do to make this head find more, or ``None`` when its validation looks sound."""
        if self.references < HOLD_OUT_EVERY:
            return (
                f"only {self.references} photos: its recall is measured on the photos it learnt from, which flatters "
                f"it; enrol {HOLD_OUT_EVERY} or more (10-20 find more), as the cameras would see the thing"
            )
        if math.isnan(self.validation_recall) or self.validation_recall >= WEAK_RECALL:
            return None
        return (
            f"finds {self.validation_recall:.0%} of views of its held-back photos: it has learnt its "
            f"{self.references} photos more than the thing; enrol more (10-20), as the cameras would see it"
        )


@dataclass(frozen=True, eq=False)
class Adaptation:
    """Trained heads for one kind and scene model.

    Attributes:
        version: 12 hex digits of ``data_digest``: names this adaptation in alerts, logs and metrics.
        kind: ``anomaly``.
        model_version: the scene model whose features the heads read; another model's features are refused.
        watchlist_revision: the store revision the training read.
        data_digest: SHA-256 of every input; the same inputs give the same digest and the same heads.
        trained_at: when training finished (UTC).
        training_s: how long it took.
        heads: one per adapted entry, in the row order of ``weights``.
        weights: ``(entries, dim)`` float32.
        biases: ``(entries,)`` float32.
        background: how many background regions from the cameras' archives it learnt from.
        classifier: ``(1000, dim)`` float32 ImageNet classifier over unit rows, kept when a head has concepts (its
            weights travel with the heads, so a node scores without reading the model's weights file).
        classifier_biases: ``(1000,)`` float32.
    """

    version: str
    kind: str
    model_version: str
    watchlist_revision: int
    data_digest: str
    trained_at: datetime
    training_s: float
    heads: tuple[EntryHead, ...]
    weights: np.ndarray = field(repr=False)
    biases: np.ndarray = field(repr=False)
    background: int = 0
    classifier: np.ndarray | None = field(default=None, repr=False)
    classifier_biases: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (
            self.weights.ndim != 2
            or self.weights.shape[0] != len(self.heads)
            or self.biases.shape != (len(self.heads),)
        ):
            raise ValueError(f"{len(self.heads)} heads need (heads, dim) weights and (heads,) biases")
        if any(head.concept_classes for head in self.heads) and (
            self.classifier is None
            or self.classifier_biases is None
            or self.classifier.shape != (len(self.classifier_biases), self.weights.shape[1])
        ):
            raise ValueError("heads with concepts need a (classes, dim) classifier and (classes,) biases")

    @property
    def entry_ids(self) -> tuple[str, ...]:
        return tuple(head.entry_id for head in self.heads)

    @property
    def thresholds(self) -> np.ndarray:
        return np.array([head.threshold for head in self.heads], dtype=np.float32)

    def head(self, entry_id: str) -> EntryHead | None:
        return next((head for head in self.heads if head.entry_id == entry_id), None)

    @cached_property
    def _concept_evidence(self) -> ConceptEvidence | None:
        if self.classifier is None or self.classifier_biases is None:
            return None
        if not any(head.concept_classes for head in self.heads):
            return None
        return ConceptEvidence(
            self.classifier,
            self.classifier_biases,
            [head.concept_classes for head in self.heads],
            np.array([head.concept_threshold for head in self.heads], dtype=np.float32),
            self.thresholds,
        )

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """``(rows, heads)`` scores in [0, 1] of unit feature rows (regions of keyframes).

        A head's score is its logistic output, or, where its ImageNet concepts pass their own threshold and say
        more, their evidence (``concept_scores``): either alone reaches the head's threshold exactly when it
        would alone.
        """
        scores = _sigmoid(vectors @ self.weights.T + self.biases)
        if self._concept_evidence is None:
            return scores
        return np.maximum(scores, self._concept_evidence(vectors))

    def concept_scores(self, vectors: np.ndarray) -> np.ndarray:
        """``(rows, heads)``: the concepts' evidence alone (``watchlists.concepts.ConceptEvidence``), 0 where they do
        not pass and for heads without concepts."""
        if self._concept_evidence is None:
            return np.zeros((len(vectors), len(self.heads)), dtype=np.float32)
        return self._concept_evidence(vectors)

    def summary(self) -> dict[str, Any]:
        """What ``vigil adapt --json``, the API and ``watchlist show`` print."""
        return {
            "version": self.version,
            "kind": self.kind,
            "model": self.model_version,
            "watchlist_revision": self.watchlist_revision,
            "data_digest": self.data_digest,
            "trained_at": self.trained_at.isoformat().replace("+00:00", "Z"),
            "training_s": round(self.training_s, 2),
            "background": self.background,
            "entries": [
                {
                    "id": h.entry_id,
                    "label": h.label,
                    "threshold": round(h.threshold, 4),
                    "references": h.references,
                    "negatives": h.negatives,
                    "validation_recall": _finite(h.validation_recall, 4),
                    "validation_fpr": _finite(h.validation_fpr, 5),
                    "concepts": list(h.concepts),
                    "concept_classes": list(h.concept_classes),
                    "concept_threshold": _finite(h.concept_threshold, 4),
                    "advice": h.advice,
                }
                for h in self.heads
            ],
        }

    def entry_summary(self, entry_id: str) -> dict[str, Any] | None:
        """How this adaptation matches one entry (version, training time, threshold, held-back figures), or ``None``
        when the entry has no head in it (matched by cosine): what ``watchlist show`` and the API show."""
        head = self.head(entry_id)
        if head is None:
            return None
        return {
            "version": self.version,
            "trained_at": self.trained_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "threshold": round(head.threshold, 4),
            "validation_recall": _finite(head.validation_recall, 4),
            "validation_fpr": _finite(head.validation_fpr, 5),
            "concepts": list(head.concepts),
            "concept_threshold": _finite(head.concept_threshold, 4),
            "advice": head.advice,
        }

    def to_bytes(self) -> bytes:
        """A self-describing ``.npz``: the arrays and a JSON header (no pickle, so loading runs no code)."""
        header = self.summary() | {"trained_at_ts": self.trained_at.timestamp()}
        buffer = io.BytesIO()
        classifier = {}
        if self._concept_evidence is not None:  # float16 halves the 5 MB; probabilities move by < 0.001
            classifier = {"classifier": self.classifier.astype(np.float16), "classifier_biases": self.classifier_biases}
        np.savez(
            buffer,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            weights=self.weights.astype(np.float32),
            biases=self.biases.astype(np.float32),
            **classifier,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Adaptation:
        """Read ``to_bytes``'s output back.

        Raises:
            ValueError: the bytes are not an adaptation (corrupt or from another program).
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                header = json.loads(arrays["header"].tobytes())
                weights, biases = arrays["weights"], arrays["biases"]
                classifier = arrays["classifier"] if "classifier" in arrays else None
                classifier_biases = arrays["classifier_biases"] if "classifier_biases" in arrays else None
            heads = tuple(
                EntryHead(
                    entry_id=e["id"],
                    label=e["label"],
                    threshold=float(e["threshold"]),
                    references=int(e["references"]),
                    negatives=int(e["negatives"]),
                    validation_recall=_number(e["validation_recall"]),
                    validation_fpr=_number(e["validation_fpr"]),
                    concepts=tuple(e.get("concepts", ())),
                    concept_classes=tuple(int(c) for c in e.get("concept_classes", ())),
                    concept_threshold=_number(e.get("concept_threshold")),
                )
                for e in header["entries"]
            )
            return cls(
                version=header["version"],
                kind=header["kind"],
                model_version=header["model"],
                watchlist_revision=int(header["watchlist_revision"]),
                data_digest=header["data_digest"],
                trained_at=datetime.fromtimestamp(header["trained_at_ts"], UTC),
                training_s=float(header["training_s"]),
                heads=heads,
                weights=np.ascontiguousarray(weights, dtype=np.float32),
                biases=np.ascontiguousarray(biases, dtype=np.float32),
                background=int(header.get("background", 0)),
                classifier=None if classifier is None else np.ascontiguousarray(classifier, dtype=np.float32),
                classifier_biases=None if classifier_biases is None else classifier_biases.astype(np.float32),
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a Vigil adaptation: {exc}") from exc


def _finite(value: float, digits: int) -> float | None:
    """JSON has no NaN (a figure that could not be measured, e.g. no held-back negatives): ``None`` instead."""
    return None if value != value else round(value, digits)


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # overflow-free logistic
