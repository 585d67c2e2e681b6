"""MobileNetV2's own ImageNet classifier, read from the weights Vigil already ships, applied to scene embeddings.

Vigil drops the classifier to embed scenes (``engines.networks.mobilenet``), but for things ImageNet names it knows
more than a few reference photos can teach: its "revolver" class was learnt from a thousand photos of guns in hands,
on belts and on tables, while an admin's handgun references are often product shots on white. The few-shot heads
(``watchlists.adaptation``) use it as a second piece of evidence for entries whose references it recognises.

The classifier is linear on the pooled 1280 features, but Vigil keeps only unit rows. Scaling a unit row back by
``FEATURE_NORM``, the median norm of pooled region features on the development clips (10th-90th percentile 12-31),
keeps the separation of handguns from everything else on the held-out stills (per-frame AUC of the handgun classes
0.87, against 0.86 from the raw features; README, "Concepts ImageNet already knows").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from engines.errors import EngineError
from engines.registry import get_model_spec

log = logging.getLogger(__name__)

FEATURE_NORM = 22.0
"""The L2 norm a unit scene embedding is scaled back to before the classifier reads it."""

CLASSIFIER_MODELS = frozenset({"mobilenet_v2", "mobilenet_v2_pooled"})
"""Scene models whose weights file holds torchvision's ``classifier.1`` over the same 1280 features."""


@dataclass(frozen=True, eq=False)
class ImageNetClassifier:
    """The 1000-way ImageNet softmax over unit scene embeddings.

    Attributes:
        weights: ``(1000, dim)`` float32, already multiplied by ``FEATURE_NORM``.
        biases: ``(1000,)`` float32.
        names: the class names, in ImageNet order.
    """

    weights: np.ndarray = field(repr=False)
    biases: np.ndarray = field(repr=False)
    names: tuple[str, ...] = field(repr=False)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """``(rows, 1000)`` class probabilities of unit embedding rows."""
        return softmax(vectors @ self.weights.T + self.biases)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, float32, overflow-free."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=4)
def imagenet_classifier(model_name: str) -> ImageNetClassifier | None:
    """The classifier of scene model ``model_name``, or ``None`` where there is none to read.

    ``None`` for a model without one (faces, test models) and where torch, which reads the weights file (the
    ``export`` extra, as for exporting models), is not installed: adaptation then trains without concepts.
    """
    if model_name not in CLASSIFIER_MODELS:
        return None
    try:
        import torch
        from torchvision.models import MobileNet_V2_Weights
    except ImportError:
        log.warning("torch is not installed: anomaly heads train without ImageNet concepts")
        return None
    path = get_model_spec(model_name).weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        weights, biases = state["classifier.1.weight"].numpy(), state["classifier.1.bias"].numpy()
    except KeyError:
        raise EngineError(f"weights {path} hold no ImageNet classifier", code="export_failed") from None
    return ImageNetClassifier(
        weights=np.ascontiguousarray(weights * FEATURE_NORM, dtype=np.float32),
        biases=np.ascontiguousarray(biases, dtype=np.float32),
        names=tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]),
    )
