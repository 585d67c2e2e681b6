"""Scene regions: the whole frame plus a grid of overlapping windows, so something small can match a reference.

A scene model sees a frame as one 224x224 image. An object that fills 40% of a 1280x720 frame's width is then a
small part of what the embedding describes, and a tight reference photo of it does not match: measured with
MobileNetV2 on real photos pasted into real backgrounds, the whole frame scored at best 0.64 against the reference
while background-only frames reached 0.61. Embedding windows as well fixes that: with a 3x2 grid of windows that
overlap by a quarter (512x411 on a 1280x720 frame), the best window scored >= 0.86 for the same 40%-wide object
(>= 0.75 at 25% width) while no background window passed 0.65. Overlap matters because an object on a window
boundary would otherwise be cut in two.

Windows are views into the frame (no copy); ``SceneEmbedder.embed_regions`` embeds them together with the whole
frames (one preprocessing pass, backend batches of up to ``max_batch``), and ``RegionEmbeddings`` keeps each row's
box so a match can say where in the frame it was. Cost grows with the windows: 1 + columns x rows embeddings per
frame (3x2: 7, measured ~5.7x the whole-frame-only time, since windows are cheaper to shrink than whole frames).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engines.errors import EngineError

Box = tuple[int, int, int, int]
"""``(x, y, width, height)`` in frame pixels."""

DEFAULT_OVERLAP = 0.25


@dataclass(frozen=True)
class RegionGrid:
    """``columns`` x ``rows`` overlapping windows over a frame, after the whole frame; ``0x0`` is whole frame only.

    Further, finer grids (``finer``) add their windows after this one's: ``"3x2+4x3"`` finds objects a tenth of the
    frame wide that a 3x2 window dilutes, at 1 + 6 + 12 = 19 embeddings per frame instead of 7.

    Attributes:
        columns: windows across (0 with ``rows`` 0: no windows).
        rows: windows down.
        overlap: fraction of a window's width (height) shared with its neighbour.
        finer: further ``(columns, rows)`` grids, same overlap.

    Example:
        >>> RegionGrid.parse("3x2").boxes(1280, 720)[:3]
        [(0, 0, 1280, 720), (0, 0, 512, 411), (384, 0, 512, 411)]
    """

    columns: int
    rows: int
    overlap: float = DEFAULT_OVERLAP
    finer: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for columns, rows in ((self.columns, self.rows), *self.finer):
            if (columns == 0) != (rows == 0) or not (0 <= columns <= 8 and 0 <= rows <= 8):
                raise EngineError(
                    f"a region grid is 'none' or CxR with 1..8 each, got {columns}x{rows}", code="bad_regions"
                )
        if self.finer and (self.columns == 0 or any(c == 0 for c, _ in self.finer)):
            raise EngineError("finer region grids need a grid before them, not 'none'", code="bad_regions")
        if not 0 <= self.overlap < 1:
            raise EngineError(f"region overlap must be within [0, 1), got {self.overlap}", code="bad_regions")

    @classmethod
    def parse(cls, text: str) -> RegionGrid:
        """``"none"`` (whole frame only), ``"<columns>x<rows>"`` such as ``"3x2"``, or grids joined by ``+``
        (``"3x2+4x3"``, up to three; config ``models.scene_regions``).

        Raises:
            EngineError: ``bad_regions`` naming the text and the accepted forms.
        """
        if text == "none":
            return cls(0, 0)
        found = re.fullmatch(r"[1-8]x[1-8](\+[1-8]x[1-8]){0,2}", text)
        if found is None:
            raise EngineError(
                f"scene regions must be 'none' or 'CxR' such as '3x2' (or grids joined by '+', such as '3x2+4x3'), "
                f"got {text!r}",
                code="bad_regions",
            )
        grids = [tuple(int(n) for n in part.split("x")) for part in text.split("+")]
        (columns, rows), *finer = grids
        return cls(columns, rows, finer=tuple((c, r) for c, r in finer))

    @property
    def per_frame(self) -> int:
        """Rows embedded per frame: the whole frame plus every window."""
        return 1 + self.columns * self.rows + sum(c * r for c, r in self.finer)

    def boxes(self, width: int, height: int) -> list[Box]:
        """The whole frame, then each grid's windows row by row, evenly spaced so the outer ones touch the edges."""
        boxes = [(0, 0, width, height)]
        for columns, rows in ((self.columns, self.rows), *self.finer):
            if columns == 0:
                continue
            window_w, xs = _spans(width, columns, self.overlap)
            window_h, ys = _spans(height, rows, self.overlap)
            boxes += [(x, y, window_w, window_h) for y in ys for x in xs]
        return boxes

    def __str__(self) -> str:
        if self.columns == 0:
            return "none"
        return "+".join(f"{c}x{r}" for c, r in ((self.columns, self.rows), *self.finer))


def _spans(length: int, count: int, overlap: float) -> tuple[int, list[int]]:
    """Window length and start offsets for ``count`` windows overlapping by ``overlap`` over ``length`` pixels."""
    size = max(1, min(length, round(length / (count - (count - 1) * overlap))))
    if count == 1:
        return size, [(length - size) // 2]
    return size, [round(index * (length - size) / (count - 1)) for index in range(count)]


@dataclass(frozen=True)
class RegionEmbeddings:
    """Embeddings of frames and their regions: ``per_frame`` consecutive rows per frame, the whole frame first.

    Attributes:
        vectors: ``(frames * per_frame, dim)`` float32, unit rows.
        boxes: ``(frames * per_frame, 4)`` int32, ``(x, y, width, height)`` of each row in its frame.
        per_frame: rows per frame (``RegionGrid.per_frame``).
    """

    vectors: np.ndarray
    boxes: np.ndarray
    per_frame: int

    def __post_init__(self) -> None:
        if self.per_frame < 1:
            raise ValueError(f"per_frame must be >= 1, got {self.per_frame}")
        if self.vectors.ndim != 2 or self.vectors.dtype != np.float32:
            raise ValueError(f"vectors must be (rows, dim) float32, got {self.vectors.shape} {self.vectors.dtype}")
        if self.boxes.shape != (len(self.vectors), 4):
            raise ValueError(f"boxes must be ({len(self.vectors)}, 4), one per vector, got {self.boxes.shape}")
        if len(self.vectors) % self.per_frame:
            raise ValueError(f"{len(self.vectors)} rows do not split into frames of {self.per_frame}")

    @classmethod
    def whole_frames(cls, vectors: np.ndarray, sizes: list[tuple[int, int]]) -> RegionEmbeddings:
        """Whole-frame embeddings only (one row per frame); ``sizes`` are the frames' ``(width, height)``."""
        boxes = np.array([(0, 0, width, height) for width, height in sizes], dtype=np.int32).reshape(-1, 4)
        return cls(vectors=vectors, boxes=boxes, per_frame=1)

    @property
    def frames(self) -> int:
        """How many frames the rows belong to."""
        return len(self.vectors) // self.per_frame

    def rows(self, frame: int) -> slice:
        """The rows of frame ``frame`` (whole frame first)."""
        return slice(frame * self.per_frame, (frame + 1) * self.per_frame)

    def whole(self) -> np.ndarray:
        """``(frames, dim)``: the whole-frame row of every frame (what ``SceneEmbedder.embed`` returns)."""
        return self.vectors[:: self.per_frame]

    def leading(self, rows: int) -> RegionEmbeddings:
        """The first ``rows`` rows of every frame (a coarser grid embedded first: ``RegionGrid.per_frame``)."""
        if not 1 <= rows <= self.per_frame:
            raise ValueError(f"rows must be within 1..{self.per_frame}, got {rows}")
        if rows == self.per_frame:
            return self
        keep = (np.arange(self.frames)[:, None] * self.per_frame + np.arange(rows)[None, :]).ravel()
        return RegionEmbeddings(np.ascontiguousarray(self.vectors[keep]), self.boxes[keep], rows)
