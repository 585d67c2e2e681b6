"""Encoded images to embeddings, batch by batch, with every image the model refuses named.

Shared by enrollment (refuse the lot when one image is refused), re-embedding after a model change and imports.
Pixels are decoded per batch, so memory holds one batch of decoded images however many are embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engines.errors import VigilError
from watchlists.errors import EmbeddingMismatchError, FileProblem
from watchlists.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image


class Embedder(Protocol):
    """What the watchlist needs from a model: the scene embedder, or the face pipeline.

    ``embed`` returns one L2-normalised float32 row per image. It may raise a ``VigilError`` for an image it cannot
    use (a face pipeline: no face, several faces, too blurred); the batch is then retried one image at a time so
    each refusal names its image.
    """

    version: str
    dim: int

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """HxWx3 uint8 RGB images to ``(N, dim)`` float32 L2-normalised rows."""
        ...


class EncodedImage(Protocol):
    """An image as bytes with a name to report it by (``CheckedImage``, or a stored image read back)."""

    @property
    def source(self) -> str: ...

    @property
    def data(self) -> bytes: ...


@dataclass(frozen=True)
class EncodedBytes:
    """Bytes and the name they are reported by: the plainest ``EncodedImage``."""

    source: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, eq=False)
class EmbeddedImages:
    """Embeddings of a sequence of images, and the images the model refused.

    Attributes:
        vectors: (N, dim) float32, one row per given image; rows of refused images are zero.
        accepted: (N,) bool, which rows hold an embedding.
        refused: every refused image with the model's reason, in input order.
    """

    vectors: np.ndarray = field(repr=False)
    accepted: np.ndarray = field(repr=False)
    refused: tuple[FileProblem, ...]

    def __post_init__(self) -> None:
        n = len(self.accepted)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != n or self.vectors.dtype != np.float32:
            raise ValueError(f"EmbeddedImages.vectors must be ({n}, dim) float32, got {self.vectors.shape}")
        if int((~self.accepted).sum()) != len(self.refused):
            raise ValueError("EmbeddedImages: every refused row needs its reason")


def embed_encoded(
    images: Sequence[EncodedImage],
    embedder: Embedder,
    *,
    batch_size: int = 16,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    advance: Callable[[int], None] | None = None,
) -> EmbeddedImages:
    """Decode and embed images batch by batch; an image that fails to decode or that the model refuses is
    reported, not raised, so the caller decides whether one refusal sinks the lot.

    Args:
        advance: called with the number of images done after each batch (progress bars).

    Raises:
        EmbeddingMismatchError: the model returned rows of the wrong shape (a broken model, not a bad image).
    """
    limits = {"max_bytes": max_bytes, "max_pixels": max_pixels}
    vectors = np.zeros((len(images), embedder.dim), dtype=np.float32)
    accepted = np.zeros(len(images), dtype=bool)
    refused: list[tuple[int, FileProblem]] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        decoded = _decode(chunk, start, limits, refused)
        positions = [position for position, _ in decoded]
        try:
            vectors[positions] = _embed(embedder, [pixels for _, pixels in decoded])
            accepted[positions] = True
        except VigilError:  # find which images the model refuses, so each refusal names its image
            for position, pixels in decoded:
                try:
                    vectors[position] = _embed(embedder, [pixels])[0]
                    accepted[position] = True
                except VigilError as exc:
                    refused.append((position, FileProblem(images[position].source, exc.code, exc.message)))
        if advance is not None:
            advance(len(chunk))
    return EmbeddedImages(vectors, accepted, tuple(problem for _, problem in sorted(refused, key=lambda r: r[0])))


def _decode(
    chunk: Sequence[EncodedImage], start: int, limits: dict[str, int], refused: list[tuple[int, FileProblem]]
) -> list[tuple[int, np.ndarray]]:
    """(position, pixels) of the images that decode; the others are added to ``refused`` with their reason."""
    decoded: list[tuple[int, np.ndarray]] = []
    for offset, image in enumerate(chunk):
        try:
            decoded.append((start + offset, decode_image(image.data, **limits).pixels))
        except VigilError as exc:
            refused.append((start + offset, FileProblem(image.source, exc.code, exc.message)))
    return decoded


def _embed(embedder: Embedder, pixels: list[np.ndarray]) -> np.ndarray:
    """The model's rows for these images, their shape checked (their norms are checked where they are stored)."""
    if not pixels:
        return np.empty((0, embedder.dim), dtype=np.float32)
    vectors = embedder.embed(pixels)
    if vectors.shape != (len(pixels), embedder.dim):
        raise EmbeddingMismatchError(
            f"{embedder.version} returned shape {vectors.shape}, expected {(len(pixels), embedder.dim)}"
        )
    return vectors
