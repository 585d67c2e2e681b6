"""An entry's ImageNet concepts: the classes of the backbone's own classifier that its reference photos show.

A logistic head learns what the admin's photos show; when those are product shots of a pistol on white, it learns
product shots. MobileNetV2's ImageNet classifier learnt "revolver", "holster" and "assault rifle" from a thousand
photos each, in hands and on belts. On held-out stills of handguns held by people (README, "Concepts ImageNet
already knows") the heads found none of 20 and the concepts 6, with no fire-, smoke-, fall- or crowd-free scene
above 0.3.

Concepts are chosen from the references alone: the classes that hold ``concept_mass`` of the photos' average
probability in at most ``max_concepts`` classes. Handgun references give revolver, holster and assault rifle (0.8 of
their mass); fire, smoke, fall and crowd photos spread over volcano, geyser, stage, stretcher and the like, reach no
such mass and get none, so the concept evidence is used only where ImageNet knows the thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.imagenet_classifier import softmax


def reference_concepts(probabilities: np.ndarray, *, mass: float, most: int) -> tuple[int, ...]:
    """The fewest classes (at most ``most``) holding ``mass`` of the references' average probability, most
    probable first; none when no such few hold it.

    Args:
        probabilities: ``(photos, classes)`` of the entry's reference photos.
    """
    if not len(probabilities):
        return ()
    average = probabilities.mean(axis=0)
    order = np.argsort(-average)[:most]
    reached = np.flatnonzero(np.cumsum(average[order]) >= mass)
    return tuple(int(c) for c in order[: reached[0] + 1]) if len(reached) else ()


def concept_threshold(negatives: np.ndarray, *, target_fpr: float, floor: float) -> float:
    """The summed concept probability that at most ``target_fpr`` of the head's negative examples reach, never
    below ``floor`` (negatives in training are easier than live footage, as for the heads) nor above 0.99."""
    threshold = floor
    if len(negatives):
        threshold = max(threshold, float(np.quantile(negatives, 1 - target_fpr, method="higher")) + 1e-4)
    return min(threshold, 0.99)


class ConceptEvidence:
    """Scores unit feature rows by each head's concepts, on the heads' scale: 0 where the concepts' summed
    probability is under the head's concept threshold, else mapped linearly from [concept threshold, 1] onto
    [head threshold, 1]. Evidence under its threshold counts for nothing, so the fused score is the head's own there.

    The full 1000-class softmax costs 4 ms a frame of 43 rows on one core, so rows are first bounded: the log of a
    sum of exponentials is at least the mean plus the log of the count (Jensen), hence a row's concept probability
    is at most the sum over its concepts of exp(logit - mean logit) / classes, from a few dot products. Only rows
    whose bound reaches a concept threshold get the softmax.

    Args:
        classifier: ``(classes, dim)`` over unit rows.
        biases: ``(classes,)``.
        concepts: per head, its concept classes (empty: no concept evidence).
        concept_thresholds: per head (ignored for heads without concepts).
        head_thresholds: per head.
    """

    def __init__(
        self,
        classifier: np.ndarray,
        biases: np.ndarray,
        concepts: Sequence[Sequence[int]],
        concept_thresholds: np.ndarray,
        head_thresholds: np.ndarray,
    ) -> None:
        self._classifier, self._biases = classifier, biases
        self._classes = sorted({c for classes in concepts for c in classes})
        position = {c: i for i, c in enumerate(self._classes)}
        self._members = np.zeros((len(self._classes), len(concepts)), dtype=np.float32)
        for head, classes in enumerate(concepts):
            self._members[[position[c] for c in classes], head] = 1.0
        self._used = self._members.any(axis=0)
        self._concept_rows = np.ascontiguousarray(classifier[self._classes])
        self._mean_row, self._mean_bias = classifier.mean(axis=0), float(biases.mean())
        self._thresholds = np.where(self._used, concept_thresholds, np.inf).astype(np.float32)
        self._head_thresholds = np.asarray(head_thresholds, dtype=np.float32)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """``(rows, heads)`` evidence in [0, 1]."""
        evidence = np.zeros((len(vectors), len(self._used)), dtype=np.float32)
        logits = vectors @ self._concept_rows.T + self._biases[self._classes]
        mean = vectors @ self._mean_row + self._mean_bias
        bound = np.exp(logits - mean[:, None]) @ self._members / len(self._biases)
        candidates = np.flatnonzero((bound >= self._thresholds).any(axis=1))
        if not len(candidates):
            return evidence
        probabilities = softmax(vectors[candidates] @ self._classifier.T + self._biases)
        concept = probabilities[:, self._classes] @ self._members
        passed = concept >= self._thresholds
        scale = (1 - self._head_thresholds) / np.maximum(1 - self._thresholds, 1e-6)
        evidence[candidates] = np.where(passed, self._head_thresholds + (concept - self._thresholds) * scale, 0.0)
        return evidence
