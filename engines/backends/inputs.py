"""What every backend accepts: one NCHW float32 batch, checked the same way whatever runtime runs it.

Checked before the runtime sees it, because each runtime fails differently on a wrong batch (ONNX Runtime raises
its own exception types, TensorRT returns ``False`` and logs, torch may broadcast silently), and a caller should get
one error naming what was expected and what came.
"""

from __future__ import annotations

import numpy as np

from engines.errors import EngineError

ItemShape = tuple[int | str | None, ...]
"""Per-item input shape such as ``(3, 224, 224)``; a name or ``None`` marks a free axis (any length)."""

FREE_AXIS_WARM_UP = 64
"""Length given to a free image axis when warming up: more than any fully convolutional net's receptive field needs
(MTCNN's PNet looks at 12x12), and still instant."""


def check_batch(batch: object, item_shape: ItemShape) -> np.ndarray:
    """Return ``batch`` as a C-contiguous float32 array if it fits ``item_shape``, else raise.

    A C-contiguous float32 batch comes back as the same object (no copy); a strided view is copied once.

    Raises:
        EngineError: ``bad_batch``, naming the expected and the actual dtype or shape.
    """
    if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
        got = batch.dtype if isinstance(batch, np.ndarray) else type(batch).__name__
        raise EngineError(f"expected a float32 NCHW batch, got {got}", code="bad_batch")
    fits = len(batch.shape) == 1 + len(item_shape) and all(
        not isinstance(want, int) or want == got for want, got in zip(item_shape, batch.shape[1:], strict=True)
    )
    if not fits:
        raise EngineError(
            f"expected a batch of shape (N, {', '.join(map(str, item_shape))}), got {batch.shape}", code="bad_batch"
        )
    return np.ascontiguousarray(batch)


def warm_up_batch(item_shape: ItemShape, batch_size: int = 1) -> np.ndarray:
    """A zero batch that fits ``item_shape``, free axes set to ``FREE_AXIS_WARM_UP``: what backends run once when
    built, so the first camera frame does not pay for lazy initialisation."""
    shape = [dim if isinstance(dim, int) else FREE_AXIS_WARM_UP for dim in item_shape]
    return np.zeros((batch_size, *shape), dtype=np.float32)


def split_batch(batch: np.ndarray, max_batch: int) -> list[np.ndarray]:
    """Consecutive views of at most ``max_batch`` items: for runtimes whose engine or graphs have a largest batch."""
    return [batch[start : start + max_batch] for start in range(0, len(batch), max_batch)] or [batch]
