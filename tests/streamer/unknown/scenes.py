"""Camera frames of the face photos, and strangers seen through a clusterer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from engines.faces import FacePipeline
from streamer.demo.scenes import letterbox
from streamer.unknown.clusters import ClusterMatch, UnknownFaceClusterer
from streamer.unknown.store import UnknownCrop, UnknownFaceStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FACE_THRESHOLD = 0.945  # the project's watchlist.default_threshold.face
SCALES = {"hopper": 0.85, "astronaut": 1.5}  # a frame neither cluster saw, with a face big enough for the stream


def frame_of(photo: np.ndarray, scale: float) -> np.ndarray:
    """The photo in a 640x360 camera frame, at ``scale``."""
    return letterbox(photo, (640, 360), scale)


def see(
    clusterer: UnknownFaceClusterer, pipeline: FacePipeline, image: np.ndarray, camera: str, at: datetime
) -> list[ClusterMatch]:
    """Every face of ``image`` through the clusterer."""
    return [clusterer.assign(face, image, camera, at) for face in pipeline.analyse(image)]


def see_strangers(clusterer: UnknownFaceClusterer, pipeline: FacePipeline, photos: dict[str, np.ndarray]) -> None:
    """Grace Hopper on three frames of two cameras (``unknown-1``), then Eileen Collins on two (``unknown-2``)."""
    for minute, (camera, scale) in enumerate([("lobby", 1.0), ("gate", 0.8), ("lobby", 0.9)]):
        see(clusterer, pipeline, frame_of(photos["hopper"], scale), camera, T0 + timedelta(minutes=minute))
    for minute, scale in ((5, 1.4), (6, 1.6)):  # her face is smaller in its photo: 1.4 makes it 64 px high
        see(clusterer, pipeline, frame_of(photos["astronaut"], scale), "gate", T0 + timedelta(minutes=minute))


def stranger(store: UnknownFaceStore, jpeg: bytes) -> tuple[str, int]:
    """A cluster of one sighting with ``jpeg`` as its crop, written without a face model; ``(cluster id, crop id)``."""
    centroid = np.full(128, 128**-0.5, np.float32)
    n = store.create("dlib_resnet128@000000000000", centroid, "lobby", T0, 0.99)
    store.add_crop(n, jpeg, UnknownCrop(0, 100.0, 0.99, "lobby", T0), keep=5)
    crop = store.get(f"unknown-{n}").crops[0]
    return f"unknown-{n}", crop.id
