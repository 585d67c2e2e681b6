"""The face pipeline as one call: detect, align, measure quality, embed. What enrollment and the stream run.

``FacePipeline.analyse`` gives every face in a frame with all that is known about it; the stream keeps faces of
any quality (a passing face is what the camera saw) and leaves the decision to the watchlist's thresholds.
``FacePipeline.embed`` is the enrollment contract (``watchlists.enroll.Embedder``): one unit vector per reference
photo, which must hold exactly one usable face, else a ``FaceRejectedError`` whose code says why
(``no_face_found``, ``multiple_faces``, ``face_too_small``, ``too_blurry``, ``bad_pose``).

Chips are cut from the full-resolution image even though detection ran on a shrunk copy, and all the chips of a
call (or of several frames, with ``analyse_many``) go to the embedder as one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.errors import EngineError
from engines.faces.align import CHIP_SIZE, align_face
from engines.faces.detector import FaceDetection, MtcnnDetector
from engines.faces.embedder import FaceEmbedder, unit_rows
from engines.faces.quality import FaceQuality, QualityLimits, assess_face
from engines.preprocess import check_image


class FaceRejectedError(EngineError):
    """An image does not hold exactly one usable face; ``code`` says why, ``quality`` shows the best face's numbers."""

    code = "no_face_found"

    def __init__(self, message: str, *, code: str, quality: FaceQuality | None = None) -> None:
        super().__init__(message, code=code)
        self.quality = quality


@dataclass(frozen=True, eq=False)
class Face:
    """One face in a frame, with everything the pipeline knows about it.

    Attributes:
        detection: box, score and landmarks in the frame's pixels.
        chip: the aligned 150x150x3 uint8 RGB chip the descriptor was computed from (read-only; alert snapshots
            and admin pages can show it).
        quality: size, sharpness, pose.
        descriptor: dlib's raw 128-d vector (float32, read-only): compare with euclidean distance < 0.6.
        embedding: the same vector at unit length (float32, read-only): what the watchlist index searches.
    """

    detection: FaceDetection
    chip: np.ndarray
    quality: FaceQuality
    descriptor: np.ndarray
    embedding: np.ndarray

    def __post_init__(self) -> None:
        if self.chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or self.chip.dtype != np.uint8:
            raise ValueError(f"chip must be {CHIP_SIZE}x{CHIP_SIZE}x3 uint8, got {self.chip.shape} {self.chip.dtype}")
        for name in ("descriptor", "embedding"):
            vector = getattr(self, name)
            if vector.ndim != 1 or vector.dtype != np.float32 or not np.isfinite(vector).all():
                raise ValueError(f"{name} must be a finite 1-d float32 vector, got {vector.shape} {vector.dtype}")
        if self.embedding.shape != self.descriptor.shape or abs(float(np.linalg.norm(self.embedding)) - 1) > 1e-4:
            raise ValueError(
                f"embedding must be the descriptor at unit length, got norm {np.linalg.norm(self.embedding)}"
            )
        for name in ("chip", "descriptor", "embedding"):
            array = np.array(getattr(self, name))
            array.setflags(write=False)
            object.__setattr__(self, name, array)


class FacePipeline:
    """Detector + aligner + quality + embedder behind one call.

    Thread-safe (its parts are).

    Attributes:
        detector: the face detector (MTCNN).
        embedder: the descriptor model (dlib's ResNet).
        version: the embedder's model version (``dlib_resnet128@<12 hex>``): what embeddings are stored under.
        dim: embedding length (128).
        detector_version: the detector's version (``mtcnn@<12 hex>``), for logs and ``vigil models``.
        limits: what ``usable_face`` and ``embed`` require of a face.
        max_faces: most faces analysed per image (the highest-scoring), which bounds a crowd's cost.

    Example:
        >>> pipeline = load_face_pipeline(threads=2)
        >>> [(face.detection.bbox, face.quality.problems()) for face in pipeline.analyse(skimage.data.astronaut())]
        [((179, 60, 88, 113), ())]
        >>> pipeline.embed([reference_photo]).shape                  # enrollment: exactly one usable face
        (1, 128)
    """

    def __init__(
        self,
        detector: MtcnnDetector,
        embedder: FaceEmbedder,
        *,
        limits: QualityLimits | None = None,
        max_faces: int = 32,
    ) -> None:
        if max_faces < 1:
            raise EngineError(f"max_faces must be >= 1, got {max_faces}", code="bad_backend_option")
        self.detector, self.embedder = detector, embedder
        self.version = embedder.version
        self.dim = embedder.dim
        self.detector_version = detector.version
        self.limits = limits or QualityLimits()
        self.max_faces = max_faces

    def analyse(self, image: np.ndarray) -> list[Face]:
        """Every face in one HxWx3 uint8 RGB image, best detection score first.

        Raises:
            EngineError: ``bad_image`` when the image is not HxWx3 uint8.
        """
        return self.analyse_many([image])[0]

    def analyse_many(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """``analyse`` for several images (a batch of keyframes), with one embedder batch for all their faces.

        Raises:
            EngineError: ``bad_image`` naming the first image that is not HxWx3 uint8 (nothing is run).
        """
        images = [check_image(image, index) for index, image in enumerate(images)]  # a bad one fails before any work
        detections = [self.detector.detect(image)[: self.max_faces] for image in images]
        chips = [
            align_face(image, found.landmarks)
            for image, faces in zip(images, detections, strict=True)
            for found in faces
        ]
        descriptors = self.embedder.embed(chips)
        embeddings = unit_rows(descriptors).reshape(-1, self.dim)
        results, position = [], 0
        for faces in detections:
            results.append(
                [
                    Face(found, chips[index], assess_face(found, chips[index]), descriptors[index], embeddings[index])
                    for index, found in enumerate(faces, start=position)
                ]
            )
            position += len(faces)
        return results

    def usable_face(self, image: np.ndarray) -> Face:
        """The one face in ``image`` that meets ``limits``: what a reference photo must hold.

        Raises:
            FaceRejectedError: ``no_face_found``; ``multiple_faces`` when more than one face is usable; otherwise
                the first problem of the largest face (``face_too_small``, ``too_blurry``, ``bad_pose``), with
                every problem and the measured numbers in the message.
        """
        faces = self.analyse(image)  # checks the image first
        height, width = image.shape[:2]
        if not faces:
            raise FaceRejectedError(f"no face found in the {width}x{height} image", code="no_face_found")
        usable = [face for face in faces if not face.quality.problems(self.limits)]
        if len(usable) == 1:
            return usable[0]
        if usable:
            boxes = ", ".join(str(face.detection.bbox) for face in usable)
            raise FaceRejectedError(
                f"{len(usable)} usable faces in the image (boxes {boxes}); a reference photo must show one person",
                code="multiple_faces",
            )
        largest = max(faces, key=lambda face: face.detection.bbox[2] * face.detection.bbox[3])
        problems = largest.quality.problems(self.limits)
        raise FaceRejectedError(
            f"the face at {largest.detection.bbox} is not usable ({', '.join(problems)}): {largest.quality.describe()}",
            code=problems[0],
            quality=largest.quality,
        )

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit embeddings of reference photos, one row each (the enrollment contract).

        Raises:
            FaceRejectedError: for the first image without exactly one usable face (see ``usable_face``).
            EngineError: ``bad_image`` when an image is not HxWx3 uint8.
        """
        rows = [self.usable_face(image).embedding for image in images]
        return np.vstack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def __repr__(self) -> str:
        return f"FacePipeline(version={self.version!r}, detector={self.detector_version!r}, limits={self.limits!r})"
