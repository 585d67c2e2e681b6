"""Region embeddings pooled from one feature map: one backbone pass per frame instead of one per window.

``SceneEmbedder.embed_regions`` with a crop model embeds the whole frame and every window of the grid as separate
224x224 images (3x2: 7 passes; 3x2+4x3: 19). With a map model (``mobilenet_v2_pooled``) the frame is shrunk
once, keeping its aspect, to about ``MAP_PIXELS`` (576x320 for 16:9), MobileNetV2 runs once and returns its last
1280-channel map at stride 32, and each window's embedding is the average of the map's cells under it, each cell
weighted by the share of it the window covers. Window boxes are the same ``RegionGrid`` boxes as with crops, so
alerts keep their boxes.

At that size a 3x2 window (2/5 of a 16:9 frame's width) is about 224 input pixels wide, the scale at which the
references are embedded, so its pooled vector describes its content at the scale a crop would. Measured against
448 and 704 pixels wide (README, "Scene regions"): 448 costs 40% less but loses small objects; 704 finds them a
little better at 1.5 times the cost. A fixed pixel count rather than a fixed width keeps a portrait or 4:3
camera at the same cost as a 16:9 one.

This module's code is part of ``mobilenet_v2_pooled``'s version (``engines.registry``).
"""

from __future__ import annotations

import numpy as np

from engines.regions import Box

STRIDE = 32
"""Input pixels per feature-map cell (MobileNetV2's output stride)."""

MAP_PIXELS = 576 * 320
"""Input pixels a frame is shrunk to before its one pass: 576x320 for 16:9, the same cost for any other aspect."""


def map_input_size(width: int, height: int, pixels: int = MAP_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of the network input for a ``width`` x ``height`` frame: about ``pixels`` in all, the
    frame's aspect kept, both whole multiples of ``STRIDE`` (so every cell covers the same share of the frame)."""
    scale = (pixels / (width * height)) ** 0.5 / STRIDE
    return max(1, round(width * scale)) * STRIDE, max(1, round(height * scale)) * STRIDE


def pool_windows(feature_map: np.ndarray, boxes: list[Box], width: int, height: int) -> np.ndarray:
    """Average ``feature_map`` ``(C, h, w)`` of a ``width`` x ``height`` frame over each box; ``(len(boxes), C)``.

    A cell counts by the share of its area inside the box (the map covers the frame exactly: each cell is
    ``width / w`` x ``height / h`` frame pixels), so a box's vector moves smoothly with the box.
    """
    _, cells_down, cells_across = feature_map.shape
    rows = _coverage([(y, y + h) for _, y, _, h in boxes], height, cells_down)  # (boxes, h)
    columns = _coverage([(x, x + w) for x, _, w, _ in boxes], width, cells_across)  # (boxes, w)
    weights = rows[:, :, None] * columns[:, None, :]  # (boxes, h, w)
    weights /= weights.sum(axis=(1, 2), keepdims=True)
    # einsum, not @: a matrix product this size goes to OpenBLAS, whose threads then spin and take the cores from
    # the network's next run (measured: 43 boxes cost 17 ms of CPU and slowed ONNX Runtime 2x; einsum: 0.9 ms).
    return np.einsum("rk,ck->rc", weights.reshape(len(boxes), -1), feature_map.reshape(len(feature_map), -1))


def _coverage(spans: list[tuple[int, int]], length: int, cells: int) -> np.ndarray:
    """``(len(spans), cells)``: how much of each cell (0..1) each pixel span ``[start, end)`` covers."""
    edges = np.asarray(spans, dtype=np.float64).reshape(-1, 2) * (cells / length)
    lower = np.arange(cells, dtype=np.float64)
    covered = np.minimum(edges[:, 1:2], lower + 1) - np.maximum(edges[:, 0:1], lower)
    return np.clip(covered, 0.0, 1.0).astype(np.float32)
