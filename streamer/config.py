"""Vigil's configuration: one typed tree, validated up front.

Unknown or mistyped fields are errors that name the field (``cameras.lobby.sample.max_per_second``), so a typo never
silently falls back to a default. Environment variables override fields, nested with double underscores
(``VIGIL_MQTT__HOST=broker``); secrets (the MQTT password) are read from files at load time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engines.backends.options import BackendOptions
from streamer.errors import ConfigError
from streamer.logs import escape_controls
from streamer.redaction import redact_text, scrub
from streamer.score_baseline import BaselineSettings
from watchlists.adaptation_training import TrainingSettings
from watchlists.records import control_character_problem

ENV_PREFIX = "VIGIL_"
CAMERA_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "udp", "tcp", "file")
"""URL schemes the camera readers (FFmpeg through PyAV) open; anything else is a typo caught at load."""
CONFIG_ENV = "VIGIL_CONFIG"
"""The config file read when none is given (``-c``): the images set it to the one ``vigil run`` is started with."""


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
"""A path to a file that must exist when the config is read (secrets, certificates): a typo fails at start."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleConfig(_Section):
    """Which decoded frames of a camera are worth embedding."""

    keyframes_only: bool = Field(True, description="Decode and keep only keyframes (I-frames): 10x+ cheaper.")
    max_per_second: float = Field(1.0, gt=0, le=60, description="Upper bound on frames sampled per second.")
    skip_unchanged: bool = Field(
        True,
        description="A keyframe that shows the same picture as the camera's last matched one, when that matched"
        " nothing, is not embedded or searched for faces again (streamer.unchanged).",
    )
    change_threshold: float = Field(
        6.0,
        ge=0,
        le=255,
        description="Unchanged means no 16x16-pixel cell's mean colour moved by more than this many levels (of 255)"
        " since the last matched keyframe; 0 matches every keyframe that is not pixel-identical.",
    )
    unchanged_refresh_s: float = Field(
        10.0, gt=0, description="Match a keyframe at least this often even when the picture has not changed."
    )


class ReconnectConfig(_Section):
    """Exponential backoff with jitter between reconnect attempts, and the stall watchdog."""

    initial_s: float = Field(0.5, gt=0, description="First delay after a failure.")
    max_s: float = Field(30.0, gt=0, description="Cap on the delay.")
    multiplier: float = Field(2.0, ge=1.0)
    jitter: float = Field(0.2, ge=0, le=1, description="Random +/- fraction applied to every delay.")
    stall_timeout_s: float = Field(10.0, gt=0, description="No frame for this long counts as a dead stream.")
    open_timeout_s: float = Field(5.0, gt=0, description="Give up opening a stream after this long.")


class CameraConfig(_Section):
    """One camera: an RTSP URL, a video file or a capture device (``/dev/video0``)."""

    url: str = Field(description="rtsp://[user:pass@]host/path, a file path, or a device path. Never logged whole.")
    enabled: bool = True
    loop: bool = Field(False, description="Files only: start again at the end (demos, soak tests).")
    sample: SampleConfig = SampleConfig()
    reconnect: ReconnectConfig = ReconnectConfig()

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if problem := control_character_problem("url", url):
            raise ValueError(problem)
        scheme, sep, _ = url.partition("://")
        if sep and scheme.lower() not in CAMERA_SCHEMES:
            shown = repr(scheme) if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,15}", scheme) else "(not a scheme)"
            raise ValueError(f"unknown URL scheme {shown}: use one of {', '.join(CAMERA_SCHEMES)}")
        return url

    @property
    def is_network(self) -> bool:
        return "://" in self.url


class ModelsConfig(_Section):
    """Which models embed frames and where their exports are cached."""

    backend: Literal["auto", "tensorrt", "torch", "onnxruntime"] = "auto"
    scene: Literal["mobilenet_v2", "mobilenet_v2_pooled"] = Field(
        "mobilenet_v2_pooled",
        description="Scene model. 'mobilenet_v2_pooled': regions pooled from one pass over the frame (half the CPU of"
        " 'mobilenet_v2', which embeds each region as its own crop; each has its own model version, so switching"
        " re-embeds the watchlist).",
    )
    face_detector: Literal["mtcnn"] = "mtcnn"
    face_embedder: Literal["dlib_resnet128"] = "dlib_resnet128"
    faces: bool = Field(
        True, description="Detect and match faces (costs CPU only while the watchlist holds face entries)."
    )
    cache_dir: Path | None = Field(None, description="Exported models; default ~/.cache/vigil/models.")
    threads: int = Field(
        0,
        ge=0,
        description="Intra-op threads per network on CPU backends; 0 = auto: half the cores, at least 1 (the scene"
        " and face networks run side by side, so together they use every core).",
    )
    scene_regions: str = Field(
        "3x2",
        pattern=r"^(none|[1-8]x[1-8](\+[1-8]x[1-8]){0,2})$",
        description="Scene matching: whole frame plus a CxR grid of overlapping windows ('none': whole frame only;"
        " '3x2+4x3': a finer grid too). Finds objects a fraction of the frame wide; costs 1 + C*R (+ ...) embeddings"
        " per frame.",
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto", description="GPU backends: auto = fp16; int8 needs tensorrt and calibration_images. CPU runs fp32."
    )
    max_batch: int = Field(32, ge=1, le=1024, description="Largest batch one inference call runs (TensorRT profile).")
    cuda_graphs: bool = Field(False, description="torch on CUDA: replay captured CUDA graphs (fixed-size models).")
    torch_compile: bool = Field(False, description="torch: compile the networks with torch.compile (slow start).")
    calibration_images: Path | None = Field(None, description="tensorrt int8: folder of representative frames.")

    @model_validator(mode="after")
    def _int8_has_images(self) -> ModelsConfig:
        if self.precision == "int8" and self.calibration_images is None:
            raise ValueError("precision 'int8' needs calibration_images (a folder of representative frames)")
        if self.calibration_images is not None and not self.calibration_images.is_dir():
            raise ValueError(f"calibration_images: folder not found: {self.calibration_images}")
        return self

    def cpu_threads(self) -> int:
        """``threads``, with 0 resolved: on 2 shared cores, 1 thread per network cost a third less CPU per keyframe
        than letting each use every core (issue 13), since two networks with all cores' threads each oversubscribe
        them and spin."""
        return self.threads or max(1, (os.cpu_count() or 1) // 2)

    def backend_options(self) -> BackendOptions:
        """The engine-side options these settings mean (``engines.backends.create_backend``)."""
        return BackendOptions(
            threads=self.cpu_threads(),
            precision=self.precision,
            max_batch=self.max_batch,
            cuda_graphs=self.cuda_graphs,
            torch_compile=self.torch_compile,
            calibration_images=self.calibration_images,
        )


class BatchConfig(_Section):
    """Cross-camera dynamic batching: a batch leaves when full or when its oldest frame has waited max_wait_ms."""

    max_batch: int = Field(8, ge=1, le=1024)
    max_wait_ms: float = Field(50.0, ge=0)
    per_camera_queue: int = Field(4, ge=1, description="Frames one camera may have waiting; the oldest is dropped.")


class AlertPolicyConfig(_Section):
    """When a run of matches becomes an alert, and when it ends."""

    vote_hits: int = Field(2, ge=1, description="Matches needed within the last vote_window sampled frames to open.")
    vote_window: int = Field(3, ge=1)
    close_after_s: float = Field(10.0, gt=0, description="Close an event when its entry has not matched for this long.")
    cooldown_s: float = Field(30.0, ge=0, description="After a close, no new open for the same entry and camera.")
    resight_after_s: float = Field(
        3.0,
        ge=0,
        description="An open event whose entry had not matched for this long and is voted in again is updated with"
        " the new sighting (a patient who fell again, a fire that flared up again), whatever its score. 0: off.",
    )
    unknown_faces: bool = Field(
        False, description="Cluster good faces that match nobody (unknown-<n>) and alert on them (kind unknown_face)."
    )
    open_at_once_margin: dict[Literal["face", "anomaly"], float] = Field(
        default_factory=dict,
        description="Per kind: a single sighting scoring at least threshold + margin opens an alert without waiting"
        " for vote_hits (e.g. {face: 0.05}). A kind not listed always votes.",
    )

    @field_validator("open_at_once_margin")
    @classmethod
    def _margins_in_range(cls, margins: dict[str, float]) -> dict[str, float]:
        for kind, margin in margins.items():
            if not 0 <= margin <= 1:
                raise ValueError(f"{kind}: margin must be in [0, 1], got {margin}")
        return margins

    @model_validator(mode="after")
    def _hits_fit_window(self) -> AlertPolicyConfig:
        if self.vote_hits > self.vote_window:
            raise ValueError(f"vote_hits ({self.vote_hits}) must not exceed vote_window ({self.vote_window})")
        return self


class ConfirmConfig(_Section):
    """Confirmation bursts: when a matcher sees an entry (or nearly) on a camera that decodes keyframes only, decode
    that camera's next frames for a moment so the alert vote completes within the burst, not after more keyframes."""

    enabled: bool = Field(True, description="Decode a short burst of frames after a sighting or a near candidate.")
    frames: int = Field(4, ge=1, le=100, description="Most frames one burst passes on for embedding.")
    max_s: float = Field(1.0, gt=0, le=10, description="A burst ends this long after it starts, frames or not.")
    every_nth: int = Field(2, ge=1, le=30, description="Pass on every nth decoded frame (10 fps, 2: 5 per second).")
    near_margin: float = Field(
        0.05, ge=0, le=1, description="A score within this much below its threshold is a near candidate: it starts a"
        " burst but never counts as a vote.",
    )  # fmt: skip
    kinds: list[Literal["face", "anomaly", "unknown_face"]] = Field(
        default_factory=lambda: ["face"],
        description="The alert kinds a burst confirms: their sightings ask for one and vote on its frames. Not anomaly"
        " by default: a burst's frames are a fraction of a second apart, near-copies of the keyframe, so on them one"
        " keyframe's stray hit passes the vote alone (development set: 6 false alarms with, 0 without); fire, smoke"
        " and falls last, and keyframes a second apart are what their vote needs.",
    )
    max_bursts_per_camera_per_min: int = Field(6, ge=1, description="A camera that triggers constantly is shed.")
    max_concurrent: int = Field(2, ge=1, description="Bursts running at once on the node; more are shed.")


class WatchlistConfig(_Section):
    database: str = Field("data/watchlist.db", description="SQLite path, or postgresql://... for several nodes.")
    password_file: ExistingFile | None = Field(
        None, description="PostgreSQL: file holding the password when the URL has none; never put it in the YAML."
    )
    default_threshold: dict[Literal["face", "anomaly"], float] = Field(
        default_factory=lambda: {"face": 0.945, "anomaly": 0.75},
        description="Cosine similarity an entry must reach unless it sets its own threshold. Face 0.945: at most 1% "
        "of never-enrolled people matched a 127-person watchlist of LFW photos (0.9 matched 88%, dlib's distance "
        "0.6 rule is about cosine 0.912); `vigil eval`/`vigil calibrate` suggest one for your own photos.",
    )
    top_k: int = Field(5, ge=1, le=100)
    index_dir: Path | None = Field(
        None,
        description="Where each search index (per kind and model) is saved, so a restart loads it instead of"
        " rebuilding it from the database; safe to delete (it is rebuilt). Default: 'index' in the node's data"
        " folder, beside storage.snapshots (data/index).",
    )


class TlsConfig(_Section):
    ca_file: ExistingFile | None = None
    cert_file: ExistingFile | None = None
    key_file: ExistingFile | None = None
    insecure: bool = Field(False, description="Skip hostname verification (self-signed test brokers only).")


class MqttSnapshotsConfig(_Section):
    """The retained ``<prefix>/cameras/<camera>/<kind>/snapshot`` topic: the JPEG of each camera's latest alert of a
    kind (open or update), for dashboards such as Home Assistant's image entity."""

    enabled: bool = Field(False, description="Publish the latest alert picture per camera and kind (retained).")
    max_px: int = Field(640, ge=32, le=4096, description="Longest side of the published JPEG, in pixels.")
    quality: int = Field(70, ge=1, le=100, description="JPEG quality of the published picture.")
    crop: bool = Field(True, description="Send the matched region (a face) rather than the whole frame, if smaller.")


class MqttConfig(_Section):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: ExistingFile | None = Field(None, description="File holding the password; never put it in the YAML.")
    tls: TlsConfig | None = None
    topic_prefix: str = "vigil"
    qos: Literal[0, 1, 2] = 1
    keepalive_s: int = Field(30, ge=5)
    reconnect_max_s: int = Field(30, ge=1, le=3600, description="Cap on the backoff between reconnects to the broker.")
    ha_discovery: bool = Field(
        False, description="Announce each camera (status sensor) and its alerts (events) to Home Assistant."
    )
    ha_discovery_prefix: str = Field("homeassistant", description="Home Assistant's MQTT discovery prefix.")
    snapshots: MqttSnapshotsConfig = Field(default_factory=MqttSnapshotsConfig)

    @field_validator("topic_prefix", "ha_discovery_prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "#+") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be a non-empty topic without wildcards or leading/trailing '/'")
        return value

    def password(self) -> str | None:
        """The password, read from its file at the moment it is needed (so it never sits in the config tree)."""
        if self.password_file is None:
            return None
        return self.password_file.read_text().strip()


class ApiConfig(_Section):
    """The REST API served by ``vigil run`` (``/api/v1``); bearer tokens from ``tokens_file``."""

    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    tokens_file: Path = Field(Path("data/tokens.yaml"), description="Token digests; `vigil tokens create` adds one.")
    bootstrap_token_file: ExistingFile | None = Field(
        None,
        description="File holding one secret accepted as the admin token 'bootstrap' (a mounted Docker/Kubernetes "
        "secret): the first admin of a container, before `vigil tokens create` has run.",
    )
    max_request_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body; bigger uploads get 413 before being read."
    )
    max_files: int = Field(20, ge=1, le=1000, description="Most images in one upload.")
    head_timeout_s: float = Field(10.0, gt=0, description="Close a connection whose request head is not in by then.")
    body_timeout_s: float = Field(60.0, gt=0, description="Close a request whose body is not in by then (408).")
    max_connections: int = Field(200, ge=1, description="Open connections; more are refused (503).")
    decode_pixels: int = Field(
        40_000_000,
        ge=1_000_000,
        description="Pixels of uploaded images being decoded at once, all requests together (~3 bytes each); a"
        " request that would go over waits briefly, then gets 503 with Retry-After.",
    )
    docs: bool = Field(
        False,
        description="Serve the interactive docs at /docs (loads swagger-ui from a CDN); openapi.json is always on.",
    )


class MetricsConfig(_Section):
    """The Prometheus endpoint (``/metrics``, no auth): it listens where the API does unless told otherwise."""

    enabled: bool = True
    bind: str | None = Field(
        None, description="Address of /metrics; default (null) = api.bind. Set 0.0.0.0 for a remote Prometheus."
    )
    port: int = Field(9108, ge=0, le=65535)

    def address(self, api: ApiConfig) -> str:
        """Where ``/metrics`` listens: ``bind``, or the API's address when unset (loopback by default)."""
        return self.bind or api.bind


class StorageConfig(_Section):
    snapshots: Path = Path("data/snapshots")
    keep_days: int = Field(30, ge=0)
    min_free_mb: int = Field(
        256,
        ge=0,
        description="Below this many MiB free on the data volume, snapshot and archive writes are skipped to keep "
        "room for the alert outbox (0: never skip).",
    )


class ArchiveConfig(_Section):
    """The keyframe archive behind forensic search (``vigil search``, ``POST /api/v1/search``): past keyframes'
    scene embeddings and thumbnails under ``<data>/archive``, kept ``storage.keep_days``."""

    enabled: bool = Field(True, description="Archive keyframes so that past footage can be searched by image.")
    min_change: float = Field(
        0.97, gt=0, le=1, description="Archive a keyframe when its cosine with the camera's last archived one is below."
    )
    every_s: float = Field(60.0, gt=0, description="Archive a keyframe anyway when the last one is this old.")
    thumbnail_px: int = Field(320, ge=32, le=1920, description="Width of the archived thumbnails (JPEG).")


class AdaptationConfig(_Section):
    """Few-shot adaptation of anomaly entries (``watchlists.adaptation``): a head per entry trained on its photos
    against the generic negative set and the cameras' own archived keyframes, retrained in the background."""

    enabled: bool = Field(True, description="Match anomaly entries with trained heads (cosine when off or untrained).")
    retrain_after_s: float = Field(
        10.0, ge=0, description="Retrain once the watchlist has been quiet this long after a change."
    )
    retrain_every_h: float = Field(
        24.0, gt=0, description="Retrain this often anyway, to learn from newly archived background."
    )
    background: bool = Field(True, description="Learn each camera's 'normal' from its archived keyframes.")
    background_min_age_s: float = Field(
        600.0, ge=0, description="Archived keyframes younger than this are not used (an event may be under way)."
    )
    max_background: int = Field(2000, ge=0, le=100_000, description="Most background regions one training uses.")
    views_per_reference: int = Field(24, ge=1, le=500, description="Augmented views drawn from each reference photo.")
    target_fpr: float = Field(
        0.001, gt=0, lt=0.5, description="Share of held-back negative regions a head may pass: sets its threshold."
    )
    min_threshold: float = Field(
        0.8,
        ge=0.5,
        lt=1,
        description="No head's threshold is set below this score (footage is harder than the"
        " held-back negatives it is calibrated on).",
    )
    min_references: int = Field(2, ge=1, description="Entries with fewer photos are matched by cosine.")
    concepts: bool = Field(
        True,
        description="Also score an entry by the ImageNet classes its photos show (handgun photos: revolver, holster,"
        " assault rifle), with MobileNetV2's own classifier; entries whose photos ImageNet does not name get none.",
    )
    rise: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="A region also alerts when its head score rose this much over what it usually scores on this"
        " camera (0: only the heads' thresholds count).",
    )
    rise_floor: float = Field(0.6, ge=0.5, lt=1, description="A rise never alerts below this score.")
    small_objects: str = Field(
        "4x3+6x4",
        pattern=r"^(none|[1-8]x[1-8](\+[1-8]x[1-8]){0,2})$",
        description="Finer windows, pooled from the same pass, that propose small objects (a pistol on a table) when"
        " their score rises; each proposal is embedded on its own and its head decides ('none': off; needs"
        " models.scene_regions other than 'none').",
    )

    def baseline_settings(self) -> BaselineSettings:
        return BaselineSettings(rise=self.rise, floor=self.rise_floor)

    def training_settings(self, posture_labels: Sequence[str] = ()) -> TrainingSettings:
        """The trainer's settings; ``posture_labels`` (``posture_labels(config.posture)``) get no head."""
        return TrainingSettings(
            views_per_reference=self.views_per_reference,
            max_background=self.max_background,
            target_fpr=self.target_fpr,
            min_threshold=self.min_threshold,
            min_references=self.min_references,
            posture_labels=tuple(sorted(posture_labels)),
            concepts=self.concepts,
        )


class PostureConfig(_Section):
    """Anomaly entries recognised by a person's posture instead of by appearance (README, "Falls: posture")."""

    enabled: bool = Field(True, description="Run the person posture detector while an entry with such a label exists.")
    labels: list[str] = Field(
        default_factory=lambda: ["fall"],
        description="Anomaly labels that mean 'a person lying down': matched by posture, not by their photos.",
    )
    threshold: float = Field(
        0.7, gt=0, lt=1, description="Alert at this person score (the detector's confidence times how flat they lie)."
    )
    lying_within_deg: float = Field(
        30.0, gt=0, le=60, description="A body axis within this many degrees of horizontal counts as lying."
    )
    after_standing_threshold: float = Field(
        0.55,
        ge=0,
        lt=1,
        description="Sight a person lying at this lower score when the camera's previous keyframe showed someone"
        " standing where they lie (a fall); 0 turns this off.",
    )
    tiles: bool = Field(
        False, description="Also look at a wide frame's left and right squares: smaller people, more false alarms."
    )


class VigilConfig(_Section):
    """The whole service configuration (see DESIGN.md, "Config")."""

    node_id: str = "node-1"
    cameras: dict[str, CameraConfig] = Field(default_factory=dict)
    models: ModelsConfig = ModelsConfig()
    batch: BatchConfig = BatchConfig()
    alerts: AlertPolicyConfig = AlertPolicyConfig()
    confirm: ConfirmConfig = ConfirmConfig()
    watchlist: WatchlistConfig = WatchlistConfig()
    mqtt: MqttConfig = MqttConfig()
    api: ApiConfig = ApiConfig()
    metrics: MetricsConfig = MetricsConfig()
    storage: StorageConfig = StorageConfig()
    archive: ArchiveConfig = ArchiveConfig()
    adaptation: AdaptationConfig = AdaptationConfig()
    posture: PostureConfig = PostureConfig()

    @field_validator("cameras")
    @classmethod
    def _camera_names_are_topics(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for name, camera in cameras.items():
            if problem := control_character_problem("camera name", name):
                raise ValueError(problem)
            if not name or any(c in name for c in "/#+ "):
                raise ValueError(f"camera name {name!r} must be a single MQTT topic level (no '/', '#', '+', space)")
            if not camera.is_network and not camera.url.startswith("/dev/") and not Path(camera.url).is_file():
                raise ValueError(
                    f"camera {name!r}: file not found: {scrub(camera.url, camera.url)}"
                    " (a network camera's URL starts with a scheme such as rtsp://)"
                )
        return cameras


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Overlay ``VIGIL_A__B=value`` variables onto the raw tree; values are parsed as YAML scalars."""
    for key, value in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in key[len(ENV_PREFIX) :].split("__")]
        if path[0] not in VigilConfig.model_fields:
            continue  # VIGIL_* variables that are not config (VIGIL_CACHE_DIR, ...)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = yaml.safe_load(value) if value else value
    return raw


def _describe(error: ValidationError, source: str, raw: dict[str, Any]) -> str:
    """One line per problem, naming the field; no secret of the input survives (URLs' passwords, in any form)."""
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"  {field}: {message}")
    text = redact_text("\n".join(escape_controls(line) for line in lines))
    for url in _urls(raw):
        text = scrub(text, url)
    return text


def _urls(raw: dict[str, Any]) -> list[str]:
    """The URLs of the raw tree (cameras, database), valid or not, so their passwords can be scrubbed."""
    cameras = raw.get("cameras")
    urls = [c.get("url") for c in cameras.values() if isinstance(c, dict)] if isinstance(cameras, dict) else []
    watchlist = raw.get("watchlist")
    urls.append(watchlist.get("database") if isinstance(watchlist, dict) else None)
    return [url for url in urls if isinstance(url, str)]


def load_config(path: Path | str | None = None, environ: dict[str, str] | None = None) -> VigilConfig:
    """Load, overlay the environment, validate.

    Args:
        path: a YAML file; ``None`` reads the file named by ``$VIGIL_CONFIG`` (set in the images, so that
            ``docker exec ... vigil tokens create`` uses the service's config), else ``./vigil.yaml`` when present,
            else built-in defaults.
        environ: variables to overlay (default ``os.environ``).

    Raises:
        ConfigError: the file is missing or malformed, or a field is unknown or invalid (the message names it).
    """
    environ = dict(os.environ) if environ is None else environ
    source = "built-in defaults"
    raw: Any = {}
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    elif path is None and Path("vigil.yaml").is_file():
        path = Path("vigil.yaml")
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level, not {type(raw).__name__}")
    raw = _apply_env(raw, environ)
    try:
        return VigilConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, raw)) from None
