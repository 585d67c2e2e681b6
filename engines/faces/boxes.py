"""Box arithmetic for MTCNN's cascade, in NumPy: suppression, regression, squaring, and cropping net inputs.

Boxes are ``(N, 4)`` float arrays of corners ``x1, y1, x2, y2`` in pixel-edge coordinates of the image they were
found in (a box ``0, 0, 12, 12`` covers pixels 0 to 11). MTCNN's nets predict offsets as fractions of a box's
width and height, which is why sizes here are ``x2 - x1`` and not the ``+ 1`` of MTCNN's MATLAB origins.
"""

from __future__ import annotations

import cv2
import numpy as np

_NMS_BLOCK = 256


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, *, by_smaller: bool = False
) -> np.ndarray:
    """Greedy NMS: keep the best box, drop those overlapping it by more than ``threshold``, repeat.

    Overlaps are computed for a block of rows at a time (all boxes against the next 256 best), so the greedy
    pass itself is one boolean OR per kept box: several times faster than shrinking a candidate list box by box
    for the few hundred candidates a frame gives, with memory bounded at 256 rows whatever the count.

    Args:
        boxes: ``(N, 4)`` corners.
        scores: ``(N,)``; higher is better.
        threshold: overlap above which the weaker box goes.
        by_smaller: overlap as intersection over the *smaller* area rather than over the union. MTCNN's last stage
            uses it so that a box nested inside a bigger one (a face part found as a face) is dropped too.

    Returns:
        Indices of the kept boxes, best first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = np.asarray(boxes, dtype=np.float64)[order]
    areas = np.maximum(ranked[:, 2] - ranked[:, 0], 0) * np.maximum(ranked[:, 3] - ranked[:, 1], 0)
    suppressed = np.zeros(len(ranked), dtype=bool)
    keep: list[int] = []
    for start in range(0, len(ranked), _NMS_BLOCK):
        block = ranked[start : start + _NMS_BLOCK, None, :]
        inter_w = np.minimum(block[..., 2], ranked[:, 2]) - np.maximum(block[..., 0], ranked[:, 0])
        inter_h = np.minimum(block[..., 3], ranked[:, 3]) - np.maximum(block[..., 1], ranked[:, 1])
        inter = np.maximum(inter_w, 0) * np.maximum(inter_h, 0)
        block_areas = areas[start : start + _NMS_BLOCK, None]
        union = np.minimum(block_areas, areas) if by_smaller else block_areas + areas - inter
        too_close = inter / np.maximum(union, 1e-12) > threshold
        for row, index in enumerate(range(start, start + len(too_close))):
            if not suppressed[index]:
                keep.append(index)
                suppressed |= too_close[row]
    return order[np.asarray(keep, dtype=np.intp)]


def apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each corner by the net's predicted offsets, given in box widths (x) and heights (y)."""
    sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    return boxes + offsets * sizes


def squared(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square on its longer side, same centre: the nets take square crops."""
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    centres_x = (boxes[:, 0] + boxes[:, 2]) / 2
    centres_y = (boxes[:, 1] + boxes[:, 3]) / 2
    half = sides / 2
    return np.stack([centres_x - half, centres_y - half, centres_x + half, centres_y + half], axis=1)


def crop_patches(image: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Cut each box out of ``image`` and resize it to ``side`` x ``side``; parts beyond the image are zero.

    Zero-padding keeps a face at the frame's edge at its true aspect ratio (clipping the box would stretch it),
    as in MTCNN's reference implementation. Corners are rounded to whole pixels; every box yields at least one.

    Args:
        image: HxWxC array (float32 normalised pixels, or uint8).
        boxes: ``(N, 4)`` corners.
        side: output side (24 for RNet, 48 for ONet).

    Returns:
        ``(N, side, side, C)`` array of the image's dtype.
    """
    height, width, channels = image.shape
    patches = np.zeros((len(boxes), side, side, channels), dtype=image.dtype)
    corners = np.rint(boxes).astype(np.int64)
    corners[:, 2] = np.maximum(corners[:, 2], corners[:, 0] + 1)
    corners[:, 3] = np.maximum(corners[:, 3], corners[:, 1] + 1)
    for index, (x1, y1, x2, y2) in enumerate(corners):
        crop = np.zeros((y2 - y1, x2 - x1, channels), dtype=image.dtype)
        src_x1, src_y1, src_x2, src_y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if src_x2 > src_x1 and src_y2 > src_y1:
            crop[src_y1 - y1 : src_y2 - y1, src_x1 - x1 : src_x2 - x1] = image[src_y1:src_y2, src_x1:src_x2]
        shrinking = crop.shape[0] > side
        resized = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        patches[index] = resized.reshape(side, side, channels)
    return patches
