"""What the API serves from: the live service's store, models, outbox and cameras, shared, never copied.

The API runs inside ``vigil run`` beside the pipeline: enrollment through it embeds with the very scene model the
pipeline runs (so a reference and a live frame are comparable), writes the same store (the pipeline's index picks
the change up on its next sync), and reads the alert history and camera states the pipeline produces. Tests build
one from their own parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from streamer.adaptation_worker import AdaptationWorker
from streamer.alerts.acks import AlertAcks
from streamer.alerts.outbox import AlertOutbox
from streamer.api.decode_budget import DecodeBudget
from streamer.api.tokens import ApiTokens
from streamer.archive.keyframes import KeyframeArchive
from streamer.config import PostureConfig
from streamer.sources.status import CameraStatus
from streamer.unknown.store import UnknownFaceStore
from watchlists.embedders import KindEmbedders
from watchlists.errors import InvalidEntryError
from watchlists.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore


@dataclass(frozen=True)
class UploadLimits:
    """How much a request may send.

    Attributes:
        max_request_bytes: the whole body, multipart overhead included; refused before reading when declared.
        max_files: images in one request.
        max_image_bytes, max_pixels: per image (``watchlists.images``); pixels are checked before decoding.
    """

    max_request_bytes: int = 64 * 1024 * 1024
    max_files: int = 20
    max_image_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if min(self.max_request_bytes, self.max_files, self.max_image_bytes, self.max_pixels) < 1:
            raise ValueError(f"UploadLimits must all be positive, got {self}")


@dataclass
class ApiContext:
    """The parts the routes use.

    Attributes:
        store: the watchlist (shared with the pipeline).
        embedders: the model of each kind (the pipeline's scene model for ``anomaly``).
        tokens: who may call, with which role.
        default_thresholds: per kind, for entries without their own threshold.
        top_k: matches returned by ``POST /match`` unless the request asks for fewer or more.
        outbox: the alert history; ``None`` serves an empty history.
        camera_statuses: the current status of every camera.
        node_id: this node, as alerts name it.
        index_dir: where the search indexes are saved (``watchlist.index_dir``); ``None`` keeps them in memory.
        shared_indexes: indexes already built (the pipeline's), used instead of building a second copy.
        archive: past keyframes for ``POST /search`` (the pipeline's); ``None`` when the archive is off.
        snapshots_dir: where alert pictures are written (``storage.snapshots``); ``None`` serves none.
        adaptation: the node's background trainer of anomaly heads; ``None`` when adaptation is off.
        decode_budget: pixels of uploaded images decoded at once, all requests together (``api.decode_pixels``).
        cameras: the cameras of the service's config: an entry may be scoped only to these; ``None`` (no config
            at hand) accepts any well-formed name.
        unknown: the node's stranger clusters (``data/unknown.db``); ``None`` serves none.
        latest_jpeg: a camera's newest keyframe as a JPEG thumbnail, None before its first (the pipeline's
            ``LatestKeyframes.jpeg``).
        posture: the ``posture`` config: entries with its labels are shown as matched by posture; ``None``: none are.
        acks: operators' acknowledgements, kept in the outbox database (set from ``outbox``).
    """

    store: WatchlistStore
    embedders: KindEmbedders
    tokens: ApiTokens
    default_thresholds: Mapping[str, float]
    top_k: int = 5
    outbox: AlertOutbox | None = None
    camera_statuses: Callable[[], list[CameraStatus]] = list
    limits: UploadLimits = field(default_factory=UploadLimits)
    node_id: str = "node-1"
    index_dir: Path | None = None
    shared_indexes: Sequence[WatchlistIndex] = ()
    archive: KeyframeArchive | None = None
    snapshots_dir: Path | None = None
    adaptation: AdaptationWorker | None = None
    decode_budget: DecodeBudget = field(default_factory=lambda: DecodeBudget(40_000_000))
    cameras: frozenset[str] | None = None
    unknown: UnknownFaceStore | None = None
    latest_jpeg: Callable[[str], bytes | None] = lambda _camera: None
    posture: PostureConfig | None = None
    acks: AlertAcks | None = field(init=False, default=None)
    _indexes: dict[tuple[str, str], WatchlistIndex] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._indexes.update({(index.kind, index.model_version): index for index in self.shared_indexes})
        self.acks = AlertAcks(self.outbox.path) if self.outbox is not None else None

    def check_cameras(self, cameras: Sequence[str]) -> None:
        """Refuse an entry scope naming a camera the config does not have (a typo would silently mute the entry).

        Raises:
            InvalidEntryError: naming the unknown cameras and the configured ones.
        """
        if self.cameras is None:
            return
        unknown = [camera for camera in cameras if camera not in self.cameras]
        if unknown:
            raise InvalidEntryError(
                f"cameras: unknown camera {', '.join(map(repr, unknown))}; "
                f"configured: {', '.join(sorted(self.cameras)) or 'none'}"
            )

    def index(self, kind: str, model_version: str, dim: int) -> WatchlistIndex:
        """The index of ``kind`` by ``model_version``, built on first use and synced with the store on each call."""
        key = (kind, model_version)
        with self._lock:
            if key not in self._indexes:
                threshold = self.default_thresholds[kind]
                self._indexes[key] = WatchlistIndex.from_store(
                    self.store, kind, model_version, default_threshold=threshold, dim=dim, index_dir=self.index_dir
                )
            index = self._indexes[key]
        index.sync()
        return index


def api_context(request: Request) -> ApiContext:
    """The context of the app serving ``request`` (a FastAPI dependency)."""
    return request.app.state.context
