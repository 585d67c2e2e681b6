"""``vigil eval truth.json``: stream labelled clips through the real pipeline stages and score the alerts.

A truth file lists clips with the references to enrol and when each category is on screen
(``{"e2e": [{"name", "video", "kind", "refs": {label: [image]}, "truth": {label: [[t0, t1]]},
"optional": {label: [[t0, t1]]}, "negative_for": [label], "duration_s"}]}``, paths relative to the file). Each clip
is decoded as a camera would be (PyAV, keyframes only, plus the confirmation bursts its sightings ask for within the
``confirm:`` budget, timed on the clip's clock), embedded with its regions, matched (trained heads when
adaptation is on, cosine otherwise) and voted on by the alert policy, on the clip's own clock. The references of
each distinct set are enrolled once into a scratch watchlist (the configured database is never touched) and, with
adaptation on, trained once: the clips stand for cameras without history, so no archived background is used.

Scoring follows the development set's README: an alert message (``open``, or ``update``: a better score, or the
entry seen again after a lull while its alert is still open) for label L at time t finds an event when
``t0 - 0.5 <= t <= t1 + 5`` for one of L's truth spans (the detection delay is ``t - t0``). An opened alert outside
every such window is a false alarm unless it is inside an ``optional`` span (updates never add false alarms: their
alert was counted when it opened). False alarms per hour divide by the footage where that label is
neither true nor optional, summed over the clips that enrol it.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engines.posture import PersonPostureDetector
from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from streamer.adaptation_worker import train_once
from streamer.alerts.event import AlertPhase
from streamer.alerts.policy import AlertPolicy
from streamer.config import CameraConfig, VigilConfig
from streamer.confirmation import ConfirmationScheduler
from streamer.errors import ConfigError
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.posture_matcher import PostureMatcher, posture_labels
from streamer.score_baseline import ScoreBaseline
from streamer.small_objects import SmallObjectFinder, small_object_finder
from streamer.sources.burst import BurstSwitch
from streamer.sources.pyav_reader import PyAvReader
from watchlists.adaptation import Adaptation
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.enroll import Enroller
from watchlists.generic_view_cache import GenericViewCache
from watchlists.index import WatchlistIndex
from watchlists.records import label_key
from watchlists.store import WatchlistStore

HIT_BEFORE_S = 0.5
HIT_AFTER_S = 5.0
CAMERA = "eval"
Span = tuple[float, float]


@dataclass(frozen=True)
class ClipCase:
    """One clip of a truth file, its paths resolved."""

    name: str
    video: Path
    refs: dict[str, tuple[Path, ...]]
    truth: dict[str, tuple[Span, ...]]
    optional: dict[str, tuple[Span, ...]]
    negative_for: tuple[str, ...]
    duration_s: float


def read_truth(path: Path) -> list[ClipCase]:
    """The clips of a truth file, every path checked.

    Raises:
        ConfigError: the file is not valid JSON of that shape, names a missing file, or a clip is not ``anomaly``.
    """
    try:
        document = json.loads(path.read_text())
        cases = [_case(path.parent, raw) for raw in document["e2e"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a clip truth file ({type(exc).__name__}: {exc})") from None
    if not cases:
        raise ConfigError(f"{path}: 'e2e' lists no clips")
    return cases


def _case(folder: Path, raw: dict[str, Any]) -> ClipCase:
    if raw.get("kind", "anomaly") != "anomaly":
        raise ValueError(f"clip {raw.get('name')!r}: only anomaly clips can be evaluated, got {raw['kind']!r}")
    video = folder / raw["video"]
    refs = {label: tuple(folder / p for p in paths) for label, paths in raw["refs"].items()}
    for file in (video, *(p for paths in refs.values() for p in paths)):
        if not file.is_file():
            raise ValueError(f"clip {raw['name']!r}: file not found: {file}")

    def spans(key: str) -> dict[str, tuple[Span, ...]]:
        return {label: tuple((float(a), float(b)) for a, b in found) for label, found in raw.get(key, {}).items()}

    return ClipCase(
        name=str(raw["name"]),
        video=video,
        refs=refs,
        truth=spans("truth"),
        optional=spans("optional"),
        negative_for=tuple(raw.get("negative_for", ())),
        duration_s=float(raw.get("duration_s", 0.0)),
    )


@dataclass(frozen=True)
class ClipAlert:
    label: str
    t: float
    score: float
    event: AlertPhase = AlertPhase.OPEN


@dataclass
class ClipRun:
    """What one clip produced: the alert messages (opens, updates), per keyframe each entry's best score (for
    distributions), and how many frames confirmation bursts added."""

    case: ClipCase
    alerts: list[ClipAlert] = field(default_factory=list)
    scores: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    keyframes: int = 0
    burst_frames: int = 0
    duration_s: float = 0.0
    adaptation: str | None = None


class ClipEvaluator:
    """Runs clips through decode -> regions -> matcher (heads or cosine) -> alert policy.

    Args:
        config: the settings to evaluate (regions, thresholds, voting, adaptation).
        embedder: the live scene model.
        workdir: where scratch watchlists go.
        adapt: train heads (``config.adaptation``) or match every entry by cosine.
        negatives: images enrolled as negative examples of every entry (an admin's "not this" photos).
        progress: called with a line of text as work advances.
    """

    def __init__(
        self,
        config: VigilConfig,
        embedder: SceneEmbedder,
        workdir: Path,
        *,
        adapt: bool = True,
        negatives: Sequence[Path] = (),
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self._config = config
        self._embedder = embedder
        self._workdir = workdir
        self._adapt = adapt
        self._negatives = list(negatives)
        self._progress = progress or (lambda line: None)
        self._grid = RegionGrid.parse(config.models.scene_regions)
        self._watchlists: dict[tuple, _ClipWatchlist] = {}
        self._posture_detector: PersonPostureDetector | None = None

    def run(self, case: ClipCase) -> ClipRun:
        store, matcher, slot, posture, small = self._watchlist(case)
        matcher.forget_camera(CAMERA)  # each clip is a camera of its own, without a past
        grid = self._grid
        if small is not None:
            small.forget_camera(CAMERA)
            grid = small.grid
        if posture is not None:
            posture.forget_camera(CAMERA)
        policy = AlertPolicy(self._config.alerts, "eval")
        scorer = _LabelScores(store, self._embedder.version, slot.current if slot else None)
        run = ClipRun(case, adaptation=slot.current.version if slot and slot.current else None)
        switch = BurstSwitch()
        # Bursts are rationed on the clip's own clock (the latest frame's time), as a live camera's are on the wall's.
        confirm = ConfirmationScheduler(
            self._config.confirm,
            {CAMERA: switch},
            VigilMetrics(),
            backlogged=lambda: False,
            clock=lambda: run.duration_s,
        )
        start = datetime(2000, 1, 1, tzinfo=UTC)
        source = CameraConfig(url=str(case.video))
        with PyAvReader(CAMERA, source, threading.Event(), lambda: None, paced=False, bursts=switch) as reader:
            for frame in reader.frames():
                t = frame.pts if frame.pts is not None else float(run.keyframes)
                frame = replace(frame, frame_time=start + timedelta(seconds=t), received_at=t)
                run.duration_s = max(run.duration_s, t)
                every_row = self._embedder.embed_regions([frame.image], grid)
                embeddings = every_row.leading(self._grid.per_frame)
                sightings = matcher.match([frame], embeddings)[0]
                if small is not None:
                    sightings += small.find([frame], every_row, [sightings])[0]
                if posture is not None:
                    sightings += posture.match([frame])[0]
                if frame.burst:
                    run.burst_frames += 1
                else:
                    run.keyframes += 1
                    self._record_scores(run, t, scorer(embeddings.vectors), posture)
                events = policy.expire(t) + policy.observe(
                    CAMERA, frame.frame_time, frame.size, t, confirm.votes(frame, sightings), self._embedder.version
                )
                confirm.follow(CAMERA, sightings, policy)
                run.alerts += [
                    ClipAlert(e.label, (e.frame_time - start).total_seconds(), e.score, e.event)
                    for e in events
                    if e.event is not AlertPhase.CLOSE
                ]
        run.duration_s = max(run.duration_s, case.duration_s)
        return run

    @staticmethod
    def _record_scores(run: ClipRun, t: float, scores: dict[str, float], posture: PostureMatcher | None) -> None:
        """A keyframe's score per label, for the distributions (burst frames would weigh sightings twice)."""
        if posture is not None:
            by_posture = [label for label in scores if label_key(label) in posture.labels]
            scores |= dict.fromkeys(by_posture, posture.last_score(CAMERA))
        for label, score in scores.items():
            run.scores[label].append((t, score))

    def _watchlist(self, case: ClipCase) -> _ClipWatchlist:
        """The scratch watchlist of this clip's reference set, enrolled (and trained) the first time it is seen."""
        key = tuple(sorted((label, paths) for label, paths in case.refs.items()))
        if key in self._watchlists:
            return self._watchlists[key]
        database = self._workdir / f"watchlist-{len(self._watchlists)}.db"
        database.unlink(missing_ok=True)
        store = WatchlistStore(database)
        enroller = Enroller(store, self._embedder, show_progress=False)
        for label, paths in case.refs.items():
            self._progress(f"enrolling {len(paths)} references of {label!r}")
            report = enroller.enroll("anomaly", label, list(paths), actor="eval")
            if self._negatives:
                enroller.add_negatives(report.entry.id, self._negatives, actor="eval")
        index = WatchlistIndex.from_store(
            store,
            "anomaly",
            self._embedder.version,
            default_threshold=self._config.watchlist.default_threshold["anomaly"],
        )
        slot = None
        by_posture = posture_labels(self._config.posture)
        if self._adapt:
            slot = AdaptationSlot(store, "anomaly", self._embedder.version)
            self._progress(f"training heads for {', '.join(c for c in case.refs if label_key(c) not in by_posture)}")
            settings, cache = self._config.adaptation, GenericViewCache(self._config.models.cache_dir)
            outcome = train_once(
                store, self._embedder, settings, actor="eval", view_cache=cache, posture_labels=by_posture
            )
            if outcome.adaptation is not None:
                slot.publish(outcome.adaptation)
        baseline = ScoreBaseline(self._config.adaptation.baseline_settings())
        posture = None
        if {label_key(label) for label in case.refs} & set(by_posture):
            self._posture_detector = self._posture_detector or PersonPostureDetector(tiles=self._config.posture.tiles)
            posture = PostureMatcher(self._posture_detector, index, self._config.posture, VigilMetrics())
        skip = posture.labels if posture is not None else frozenset()
        matcher = SceneMatcher(index, VigilMetrics(), self._config.watchlist.top_k, slot, baseline, skip_labels=skip)
        small = small_object_finder(self._config, self._embedder, slot, index, VigilMetrics(), skip)
        self._watchlists[key] = (store, matcher, slot, posture, small)
        return self._watchlists[key]

    def close(self) -> None:
        for store, *_matchers in self._watchlists.values():
            store.close()
        self._watchlists.clear()


_ClipWatchlist = tuple[
    WatchlistStore, SceneMatcher, AdaptationSlot | None, PostureMatcher | None, SmallObjectFinder | None
]


class _LabelScores:
    """Each label's best score over a keyframe's regions, above or below its threshold (for the distributions):
    its head's score when it has one, else its best cosine against its references."""

    def __init__(self, store: WatchlistStore, model_version: str, adaptation: Adaptation | None) -> None:
        embedded = store.embeddings("anomaly", model_version)
        label_of = {entry.id: entry.label for entry in embedded.entries}
        self._references = {
            label_of[entry_id]: embedded.vectors[[i for i, e in enumerate(embedded.entry_ids) if e == entry_id]]
            for entry_id in dict.fromkeys(embedded.entry_ids)
        }
        self._adaptation = adaptation
        self._head_labels = [label_of[e] for e in adaptation.entry_ids] if adaptation else []

    def __call__(self, vectors: np.ndarray) -> dict[str, float]:
        scores = {label: float((vectors @ refs.T).max()) for label, refs in self._references.items()}
        if self._adaptation is not None:
            best = self._adaptation.scores(vectors).max(axis=0)
            scores |= {label: float(score) for label, score in zip(self._head_labels, best, strict=True)}
        return scores


@dataclass
class CategoryReport:
    events: int = 0
    detected: int = 0
    delays: list[float] = field(default_factory=list)
    false_alarms: int = 0
    negative_s: float = 0.0
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    true_scores: list[float] = field(default_factory=list)
    other_scores: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        hours = self.negative_s / 3600
        return {
            "events": self.events,
            "detected": self.detected,
            "recall": self.detected / self.events if self.events else None,
            "median_delay_s": float(np.median(self.delays)) if self.delays else None,
            "delays_s": [round(d, 2) for d in self.delays],
            "false_alarms": self.false_alarms,
            "negative_s": round(self.negative_s, 1),
            "false_alarms_per_hour": self.false_alarms / hours if hours else None,
            "missed": self.missed,
            "false": self.false,
            "scores_in_truth": _percentiles(self.true_scores),
            "scores_elsewhere": _percentiles(self.other_scores),
        }


def score_runs(runs: Sequence[ClipRun]) -> dict[str, Any]:
    """Per category and overall: events found, delays, false alarms and their rate, score percentiles."""
    categories: dict[str, CategoryReport] = defaultdict(CategoryReport)
    for run in runs:
        case = run.case
        for label in case.refs:
            report = categories[label]
            truth, optional = case.truth.get(label, ()), case.optional.get(label, ())
            report.negative_s += max(0.0, run.duration_s - _covered(truth + optional, run.duration_s))
            alerts = [a for a in run.alerts if a.label == label]
            for t0, t1 in truth:
                report.events += 1
                hits = [a.t for a in alerts if t0 - HIT_BEFORE_S <= a.t <= t1 + HIT_AFTER_S]
                if hits:
                    report.detected += 1
                    report.delays.append(min(hits) - t0)
                else:
                    report.missed.append(f"{case.name}@{t0:g}")
            for alert in (a for a in alerts if a.event is AlertPhase.OPEN):
                hit = any(t0 - HIT_BEFORE_S <= alert.t <= t1 + HIT_AFTER_S for t0, t1 in truth)
                if not hit and not any(a <= alert.t <= b for a, b in optional):
                    report.false_alarms += 1
                    report.false.append(f"{case.name}@{alert.t:.1f}")
            for t, score in run.scores.get(label, ()):
                (report.true_scores if any(a <= t <= b for a, b in truth) else report.other_scores).append(score)
    total = CategoryReport()
    for label, report in categories.items():
        total.events += report.events
        total.detected += report.detected
        total.delays += report.delays
        total.false_alarms += report.false_alarms
        total.negative_s += report.negative_s
        total.missed += [f"{label}: {clip}" for clip in report.missed]
        total.false += [f"{label}: {clip}" for clip in report.false]
    return {
        "clips": len(runs),
        "footage_s": round(sum(r.duration_s for r in runs), 1),
        "keyframes": sum(r.keyframes for r in runs),
        "burst_frames": sum(r.burst_frames for r in runs),
        "adaptations": sorted({r.adaptation for r in runs if r.adaptation}),
        "categories": {label: categories[label].as_dict() for label in sorted(categories)},
        "overall": {k: v for k, v in total.as_dict().items() if k not in ("scores_in_truth", "scores_elsewhere")},
        "alerts": [
            {
                "clip": r.case.name,
                "label": a.label,
                "event": a.event.value,
                "t": round(a.t, 2),
                "score": round(a.score, 4),
            }
            for r in runs
            for a in r.alerts
        ],
    }


def _covered(spans: Sequence[Span], duration: float) -> float:
    """Seconds of ``[0, duration]`` inside any span (spans may overlap)."""
    edges = sorted((max(0.0, a), min(duration, b)) for a, b in spans if b > a)
    covered, end = 0.0, 0.0
    for a, b in edges:
        if b > end:
            covered += b - max(a, end)
            end = b
    return covered


def _percentiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (5, 50, 95)} | {"n": len(values)}
