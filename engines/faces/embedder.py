"""Face descriptors: aligned 150x150 chips in, dlib's 128-d vectors out, computed by ONNX Runtime in batches.

``FaceEmbedder.embed`` returns dlib's *raw* descriptors, the numbers ``compute_face_descriptor`` gives (to float
rounding), on which dlib's rule holds: two faces whose descriptors are less than 0.6 apart (euclidean) are the
same person (99.38% on LFW). The watchlist index compares unit vectors by inner product instead, so
``unit_rows`` normalises them; thresholds then have to be restated as cosines.

How 0.6 maps to a cosine: for unit vectors ``|a - b|^2 = 2 - 2 cos``. dlib's descriptors are not unit: their
lengths cluster tightly (about 1.25-1.46, typically ~1.35), so dividing both by a common length ``L`` turns a
raw distance ``d`` into ``d / L`` and ``cos = 1 - (d / L)^2 / 2``. With ``L = 1.35``, 0.6 becomes a cosine of
about 0.90 (``DLIB_COSINE_THRESHOLD``). Because real lengths vary by +-8%, the two rules disagree only for pairs
within a few hundredths of the threshold; ``cosine_threshold`` gives the value for another distance or length.
This is the analytic restatement, not the matching default: on LFW photos (median length 1.41) dlib's 0.6 matched
as many never-enrolled people as cosine 0.912, and the watchlist's default (0.945) is set by a false-match target
(README, "Face threshold"; ``streamer.bench.face_threshold`` measures it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.backends import InferenceBackend
from engines.errors import EngineError
from engines.preprocess import check_image, preprocess_images
from engines.registry import ModelSpec

DLIB_DISTANCE_THRESHOLD = 0.6
"""dlib's same-person rule on raw descriptors: euclidean distance below this."""

TYPICAL_DESCRIPTOR_LENGTH = 1.35
"""Typical L2 length of a raw dlib descriptor (measured on real face chips: 1.25-1.46)."""


def cosine_threshold(distance: float = DLIB_DISTANCE_THRESHOLD, length: float = TYPICAL_DESCRIPTOR_LENGTH) -> float:
    """The cosine similarity of unit vectors that corresponds to raw euclidean ``distance`` at a typical ``length``.

    Example:
        >>> round(cosine_threshold(), 3)
        0.901
    """
    return 1.0 - (distance / length) ** 2 / 2.0


DLIB_COSINE_THRESHOLD = cosine_threshold()
"""dlib's 0.6 restated for unit vectors at the typical length (~0.901); stricter defaults: see the module docstring."""


def unit_rows(descriptors: np.ndarray) -> np.ndarray:
    """Rows scaled to L2 length 1 (float32, a new array): the form the FAISS inner-product index stores."""
    vectors = np.array(descriptors, dtype=np.float32, ndmin=2)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))
    return vectors


class FaceEmbedder:
    """Computes dlib ResNet descriptors of aligned face chips (``engines.faces.align.align_face``).

    Thread-safe: preprocessing is pure and backends may be run from several threads.

    Attributes:
        name: model name (``dlib_resnet128``).
        version: model version (``dlib_resnet128@<12 hex>``); it covers the alignment code too.
        dim: descriptor length (128).
        chip_size: the chip side the network takes (150).
        backend: name of the runtime (``onnxruntime`` ...).
        max_batch: largest batch sent to the backend at once; longer inputs are split.

    Example:
        >>> embedder = load_face_embedder(threads=2)
        >>> raw = embedder.embed([chip_a, chip_b])                  # (2, 128) float32, dlib's numbers
        >>> bool(np.linalg.norm(raw[0] - raw[1]) < DLIB_DISTANCE_THRESHOLD)   # same person?
    """

    def __init__(self, spec: ModelSpec, backend: InferenceBackend, *, max_batch: int = 32) -> None:
        if spec.kind != "face_embedder":
            raise EngineError(
                f"model {spec.name!r} is a {spec.kind} model, not a face embedder", code="wrong_model_kind"
            )
        if max_batch < 1:
            raise EngineError(f"max_batch must be >= 1, got {max_batch}", code="bad_backend_option")
        self.spec = spec
        self.name = spec.name
        self.version = spec.version
        self.dim = spec.output_dim
        self.chip_size = spec.input_size[0]
        self.backend = backend.name
        self.max_batch = max_batch
        self._runtime = backend

    def preprocess(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """The NCHW float32 batch the network sees: ``(pixel - mean) / std`` per RGB channel, nothing resized.

        Raises:
            EngineError: ``bad_image`` naming the first chip that is not chip_size x chip_size x 3 uint8: a chip of
                another size was not cut for this network, and resizing it would quietly change its framing.
        """
        checked = [check_image(chip, index) for index, chip in enumerate(chips)]
        for index, chip in enumerate(checked):
            if chip.shape[:2] != self.spec.input_size:
                raise EngineError(
                    f"image {index}: expected a {self.chip_size}x{self.chip_size} face chip, got {chip.shape}",
                    code="bad_image",
                )
        return preprocess_images(checked, self.spec)

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """Raw dlib descriptors of aligned chips.

        Returns:
            ``(N, dim)`` float32, C-contiguous, not normalised; ``(0, dim)`` for no chips.

        Raises:
            EngineError: ``bad_image`` (nothing is run), ``bad_output`` when the backend's shape is wrong.
        """
        chips = list(chips)
        batch = self.preprocess(chips)
        out = np.empty((len(chips), self.dim), dtype=np.float32)
        for start in range(0, len(chips), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            result = self._runtime.run(chunk)
            if result.shape != (len(chunk), self.dim):
                raise EngineError(
                    f"{self.backend} returned shape {result.shape} for {self.name}, expected {(len(chunk), self.dim)}",
                    code="bad_output",
                )
            out[start : start + len(chunk)] = result
        return out

    def embed_unit(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """``unit_rows(embed(chips))``: what the watchlist index stores and searches."""
        return unit_rows(self.embed(chips)).reshape(-1, self.dim)

    def __repr__(self) -> str:
        return f"FaceEmbedder(version={self.version!r}, dim={self.dim}, backend={self.backend!r})"
