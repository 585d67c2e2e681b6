"""MTCNN face detection: three small ONNX nets in a cascade, with the image pyramid and box logic in NumPy.

Why this shape: the nets are tiny (PNet has 7k parameters) and most of MTCNN's cost is the cascade's bookkeeping,
which NumPy does with no framework in the way. PNet runs once per pyramid scale (its export takes any size),
RNet and ONet once per stage on all surviving crops together.

A camera frame is first shrunk so that its longer side is at most ``max_side`` (640 by default): MTCNN's cost
grows with the pixel count, a face that is to be recognised must be large anyway, and boxes and landmarks are
mapped back to the frame's own pixels so the chip is cut from the full-resolution frame. The smallest face found
is ``min_face`` pixels *in the shrunk image*: 20 there is 40 in a 1280x720 frame and 60 in a 1920x1080 one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.backends import InferenceBackend
from engines.faces.boxes import apply_offsets, crop_patches, non_max_suppression, squared
from engines.preprocess import check_image

_MAX_CROPS_PER_RUN = 256


@dataclass(frozen=True, eq=False)
class FaceDetection:
    """One face found in a frame, in that frame's pixels.

    Attributes:
        bbox: ``(x, y, width, height)``, whole pixels, clipped to the frame.
        score: ONet's face probability, 0-1.
        landmarks: ``(5, 2)`` float32 read-only pixel coordinates, in image order: the eye on the left of the
            image, the eye on the right, the nose tip, the mouth corner on the left, the one on the right.
    """

    bbox: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        x, y, width, height = self.bbox
        if x < 0 or y < 0 or width < 1 or height < 1:
            raise ValueError(f"bbox must be (x >= 0, y >= 0, width >= 1, height >= 1), got {self.bbox}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        landmarks = np.array(self.landmarks, dtype=np.float32)
        if landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
            raise ValueError(f"landmarks must be (5, 2) finite, got shape {landmarks.shape}")
        landmarks.setflags(write=False)
        object.__setattr__(self, "landmarks", landmarks)


@dataclass(frozen=True)
class MtcnnSettings:
    """How MTCNN searches: working size, smallest face, per-stage score thresholds, pyramid step.

    Attributes:
        max_side: longer side of the image the cascade runs on; larger frames are shrunk to it first.
        min_face: smallest face searched for, in pixels of that (shrunk) image; below 12 the image is upsampled.
        thresholds: face probability a candidate needs to pass PNet, RNet and ONet.
        scale_factor: ratio between pyramid scales (0.709 = two scales per octave of face size).
    """

    max_side: int = 640
    min_face: int = 20
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709

    def __post_init__(self) -> None:
        if self.max_side < 48:
            raise ValueError(f"max_side must be >= 48 (ONet's input), got {self.max_side}")
        if not 8 <= self.min_face <= self.max_side:
            raise ValueError(f"min_face must be within [8, max_side={self.max_side}], got {self.min_face}")
        if len(self.thresholds) != 3 or not all(0.0 < t < 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must be three probabilities in (0, 1), got {self.thresholds}")
        if not 0.3 <= self.scale_factor <= 0.9:
            raise ValueError(f"scale_factor must be within [0.3, 0.9], got {self.scale_factor}")


class MtcnnDetector:
    """Finds faces and their five landmarks in RGB frames of any size.

    Thread-safe: it keeps no state between calls, and its backends may be run from several threads.

    Args:
        pnet, rnet, onet: the three nets on a backend (``load_mtcnn_detector`` builds them).
        version: ``mtcnn@<12 hex>``, changes with any of the nets or this cascade's code.
        settings: search settings.
        mean, std: input normalisation of the nets, in pixel units.

    Example:
        >>> detector = load_mtcnn_detector(threads=2)
        >>> [face.bbox for face in detector.detect(skimage.data.astronaut())]
        [(179, 60, 88, 113)]
    """

    def __init__(
        self,
        pnet: InferenceBackend,
        rnet: InferenceBackend,
        onet: InferenceBackend,
        *,
        version: str,
        settings: MtcnnSettings | None = None,
        mean: float = 127.5,
        std: float = 128.0,
    ) -> None:
        self._pnet, self._rnet, self._onet = pnet, rnet, onet
        self.version = version
        self.settings = settings or MtcnnSettings()
        self._mean, self._std = mean, std
        self._scale = np.float32(1.0 / std)

    def with_settings(self, settings: MtcnnSettings) -> MtcnnDetector:
        """The same nets searching with other settings: reference photos and camera frames may want different ones."""
        return MtcnnDetector(
            self._pnet, self._rnet, self._onet, version=self.version, settings=settings, mean=self._mean, std=self._std
        )

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Every face in ``image`` (HxWx3 uint8 RGB), best score first.

        Raises:
            EngineError: ``bad_image`` when the image is not HxWx3 uint8.
        """
        image = check_image(image, 0)
        small = self._shrink(image)
        boxes = self._propose(small)
        if len(boxes):
            boxes = self._refine(small, boxes)
        if not len(boxes):
            return []
        boxes, scores, landmarks = self._finish(small, boxes)
        scale_x, scale_y = image.shape[1] / small.shape[1], image.shape[0] / small.shape[0]
        frame_height, frame_width = image.shape[:2]
        faces = []
        for box, score, points in zip(boxes, scores, landmarks, strict=True):
            x1, x2 = np.clip(np.rint(box[[0, 2]] * scale_x), 0, frame_width).astype(int)
            y1, y2 = np.clip(np.rint(box[[1, 3]] * scale_y), 0, frame_height).astype(int)
            if x2 > x1 and y2 > y1:
                frame_points = (points + 0.5) * (scale_x, scale_y) - 0.5
                bbox = (int(x1), int(y1), int(x2 - x1), int(y2 - y1))
                faces.append(FaceDetection(bbox, float(np.clip(score, 0, 1)), frame_points))
        return faces

    def _shrink(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        longer = max(height, width)
        if longer <= self.settings.max_side:
            return image
        ratio = self.settings.max_side / longer
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _pyramid(self, height: int, width: int) -> list[float]:
        """Scales at which a ``min_face`` face becomes PNet's 12x12 window, down to the whole image in one window."""
        scale, scales = 12.0 / self.settings.min_face, []
        while min(height, width) * scale >= 12:
            scales.append(scale)
            scale *= self.settings.scale_factor
        return scales

    def _propose(self, image: np.ndarray) -> np.ndarray:
        """Stage 1: PNet over the pyramid -> squared candidate boxes, ``(N, 5)`` corners + score."""
        height, width = image.shape[:2]
        found, resized = [], image
        for scale in self._pyramid(height, width):
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            # Each level is averaged down from the previous one: a fifth of the cost of starting from the image.
            resized = cv2.resize(resized if resized.shape[1] >= size[0] else image, size, interpolation=cv2.INTER_AREA)
            out = self._pnet.run(self._normalised(resized[None]))[0]
            rows, cols = np.nonzero(out[4] >= self.settings.thresholds[0])
            if not rows.size:
                continue
            # A PNet cell (row, col) sees the 12x12 window at (2 col, 2 row) of the resized image.
            step_x, step_y = width / size[0], height / size[1]
            windows = np.stack(
                [2 * cols * step_x, 2 * rows * step_y, (2 * cols + 12) * step_x, (2 * rows + 12) * step_y], 1
            )
            candidates = np.hstack([windows, out[4, rows, cols, None], out[:4, rows, cols].T])
            found.append(candidates[non_max_suppression(candidates[:, :4], candidates[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5), np.float32)
        candidates = np.vstack(found)
        candidates = candidates[non_max_suppression(candidates[:, :4], candidates[:, 4], 0.7)]
        return np.hstack([squared(apply_offsets(candidates[:, :4], candidates[:, 5:9])), candidates[:, 4:5]])

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: RNet on 24x24 crops -> fewer, better squared boxes."""
        out = self._run_on_crops(self._rnet, image, boxes, 24)
        passed = out[:, 4] >= self.settings.thresholds[1]
        boxes, out = boxes[passed], out[passed]
        keep = non_max_suppression(boxes[:, :4], out[:, 4], 0.7)
        boxes, out = boxes[keep], out[keep]
        return np.hstack([squared(apply_offsets(boxes[:, :4], out[:, :4])), out[:, 4:5]])

    def _finish(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: ONet on 48x48 crops -> final boxes, scores and landmarks (in ``image`` pixels)."""
        out = self._run_on_crops(self._onet, image, boxes, 48)
        passed = out[:, 14] >= self.settings.thresholds[2]
        boxes, out = boxes[passed, :4], out[passed]
        sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        landmarks = boxes[:, None, :2] + np.stack([out[:, 4:9], out[:, 9:14]], axis=2) * sizes[:, None, :]
        boxes = apply_offsets(boxes, out[:, :4])
        keep = non_max_suppression(boxes, out[:, 14], 0.7, by_smaller=True)
        return boxes[keep], out[keep, 14], landmarks[keep]

    def _run_on_crops(self, network: InferenceBackend, image: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
        outputs = []
        for start in range(0, len(boxes), _MAX_CROPS_PER_RUN):
            crops = crop_patches(image, boxes[start : start + _MAX_CROPS_PER_RUN, :4], side)
            outputs.append(network.run(self._normalised(crops)))
        return np.vstack(outputs)

    def _normalised(self, images: np.ndarray) -> np.ndarray:
        """NHWC uint8 -> NCHW float32 net input. Resizing and cropping stay in uint8, a quarter of the bytes."""
        batch = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
        batch -= self._mean
        batch *= self._scale
        return batch

    def __repr__(self) -> str:
        return f"MtcnnDetector(version={self.version!r}, settings={self.settings!r})"
