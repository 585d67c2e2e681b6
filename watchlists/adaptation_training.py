"""Trains an ``Adaptation``: one logistic-regression head per anomaly entry over frozen scene features.

Each head learns from
- positives: augmented views of the entry's reference photos (``ReferenceAugmenter``: crops, flips, jitter, blur,
  JPEG, rotation, the photo pasted small into an ordinary scene);
- negatives: views of the entry's own negative examples, views of the other entries' photos (except entries with
  the same label, which are the same thing), views of the generic negative set that ships with Vigil
  (``generic_negative_images``; each photo also at night under drawn lights, ``night_lights``) and region
  embeddings of the cameras' own archived keyframes (their "normal").

All heads are fitted together as one L-BFGS problem (they share the feature matrix), each with balanced classes and
an L2 penalty. Every fifth photo of an entry, every fifth generic photo and a fifth of the background are held back
first: the threshold of each head is the score that held-back negatives reach at ``target_fpr`` (never below
``min_threshold``), and the held-back photos' views give the recall reported with it. The heads are then refitted on
everything with the thresholds kept. Entries whose plain photos MobileNetV2's own ImageNet classifier names get
those classes as concepts, with a threshold from all their negatives (``watchlists.concepts``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import cv2
import numpy as np

from engines.imagenet_classifier import ImageNetClassifier, imagenet_classifier
from watchlists.adaptation import HOLD_OUT_EVERY, Adaptation, EntryHead
from watchlists.augment import ReferenceAugmenter
from watchlists.concepts import concept_threshold, reference_concepts
from watchlists.embedding import Embedder
from watchlists.generic_negatives import MAX_SIDE, generic_negative_images
from watchlists.generic_view_cache import GenericViewCache, generic_view_key
from watchlists.images import decode_image
from watchlists.night_lights import night_view
from watchlists.reads import WatchlistReads
from watchlists.records import label_key

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: training reports as it goes (a CLI progress bar, a log line)."""


class TrainingCancelled(Exception):
    """The watchlist changed (or the service stopped) while training: the result would be stale at once."""


class NothingToAdapt(Exception):
    """No enabled entry has enough reference photos to train a head."""


@dataclass(frozen=True)
class TrainingSettings:
    """Knobs of a training (config ``adaptation``); part of the data digest, so changing one retrains.

    Attributes:
        views_per_reference: augmented views drawn from each reference photo.
        views_per_negative: views drawn from each negative example of an entry.
        views_per_generic: views drawn from each photo of the generic negative set.
        night_views_per_generic: further views of each generic photo at night under drawn lamps, string lights and
            neon (``watchlists.night_lights``): warm light in the dark is not fire.
        max_background: at most this many archived background regions (spread over cameras and time).
        regularisation: L2 penalty on each head's weights.
        target_fpr: share of held-back negative regions a head may pass; sets its threshold.
        positive_quantile: the threshold is at least the score this share of held-back views of the entry's own
            photos stays under: held-back negatives are easier than real footage, so the threshold sits as high
            as the entry's own photos allow rather than just above the negatives.
        min_threshold: a threshold is never set below this score. Held-back negatives (generic scenes, archived
            background) are easier than live footage: on the development set, heads calibrated on them alone sat at
            0.5-0.8 and false-alarmed on warm lights and hospital wards; 0.8 halved those false alarms.
        min_references: entries with fewer photos stay on cosine matching.
        posture_labels: labels matched by a person's posture instead of by their photos (config ``posture.labels``,
            as ``records.label_key`` gives them): their entries get no head, which would go unused, and their
            photos are negatives shared by every head (a fire head must still learn that a ward is not fire).
        concepts: also score entries by the ImageNet classes their references show (``watchlists.concepts``).
        concept_mass: the classes an entry's reference photos give at least this much probability on average, in at
            most ``max_concepts`` classes, are its concepts; references that spread wider get none.
        max_concepts: see ``concept_mass``.
        min_concept_threshold: a concept threshold is never set below this summed probability.
        seed: seeds augmentation and sampling: the same inputs give the same heads.
    """

    views_per_reference: int = 24
    views_per_negative: int = 8
    views_per_generic: int = 12
    night_views_per_generic: int = 4
    max_background: int = 2000
    regularisation: float = 1e-3
    target_fpr: float = 0.001
    positive_quantile: float = 0.2
    min_threshold: float = 0.8
    min_references: int = 2
    posture_labels: tuple[str, ...] = ()
    concepts: bool = True
    concept_mass: float = 0.8
    max_concepts: int = 4
    min_concept_threshold: float = 0.5
    seed: int = 0


@dataclass(frozen=True, eq=False)
class EntryExamples:
    """One entry's training material, decoded (HxWx3 uint8 RGB) and named by SHA-256 for the digest."""

    entry_id: str
    label: str
    references: Sequence[np.ndarray] = field(repr=False)
    reference_sha256: Sequence[str] = ()
    negatives: Sequence[np.ndarray] = field(default=(), repr=False)
    negative_sha256: Sequence[str] = ()


_GENERIC_CACHE: dict[tuple[str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
_GENERIC_LOCK = threading.Lock()


def examples_from_store(store: WatchlistReads, kind: str) -> tuple[int, list[EntryExamples]]:
    """The enabled entries of ``kind`` with their photos and negatives, decoded and shrunk to ``MAX_SIDE``, and the
    revision they were read at (read first: a change while reading shows as a newer revision, and a retraining)."""
    revision = store.revision()
    examples = []
    for entry in store.list_entries(kind):
        if not entry.enabled:
            continue
        images = store.entry_images(entry.id)
        negatives = store.entry_negatives(entry.id)
        examples.append(
            EntryExamples(
                entry_id=entry.id,
                label=entry.label,
                references=[_photo(store.image_bytes(image.id)) for image in images],
                reference_sha256=[image.sha256 for image in images],
                negatives=[_photo(store.image_bytes(n.id, negative=True)) for n in negatives],
                negative_sha256=[n.sha256 for n in negatives],
            )
        )
    return revision, examples


def _photo(data: bytes) -> np.ndarray:
    """A stored photo as pixels no larger than needed: views are crops shrunk to the model's 224 px anyway."""
    pixels = decode_image(data).pixels
    height, width = pixels.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return pixels
    return cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def forget_generic_views() -> None:
    """Drop the embedded generic views (benchmarks time a node's first training; nothing else needs this)."""
    with _GENERIC_LOCK:
        _GENERIC_CACHE.clear()


class HeadTrainer:
    """Turns entries' photos, the generic set and camera background into an ``Adaptation``.

    Args:
        embedder: the live scene model (its ``embed`` and ``version``).
        settings: see ``TrainingSettings``.
        progress: called as stages advance.
        cancel: set it to stop a training between steps (``TrainingCancelled``); the previous adaptation stays.
        view_cache: where the generic set's embedded views are kept between processes (none: embedded once per
            process).
    """

    def __init__(
        self,
        embedder: Embedder,
        settings: TrainingSettings | None = None,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        view_cache: GenericViewCache | None = None,
    ) -> None:
        self._embedder = embedder
        self._settings = settings or TrainingSettings()
        self._progress = progress or (lambda stage, done, total: None)
        self._cancel = cancel or threading.Event()
        self._view_cache = view_cache

    def train(
        self, entries: Sequence[EntryExamples], background: np.ndarray | None = None, *, revision: int, kind: str
    ) -> Adaptation:
        """Train a head for every entry with at least ``min_references`` photos.

        Args:
            entries: the enabled entries of ``kind`` and their photos.
            background: ``(rows, dim)`` unit region embeddings of the cameras' archived keyframes.
            revision: the watchlist revision ``entries`` were read at.

        Raises:
            NothingToAdapt: no entry has enough photos.
            TrainingCancelled: ``cancel`` was set.
        """
        started = time.perf_counter()
        settings = self._settings
        adapted = self.adaptable(entries)
        if not adapted:
            raise NothingToAdapt(self.nothing_to_adapt(entries, kind))
        background = _background_sample(background, self._embedder.dim, settings)
        rows = self._rows(adapted, [e for e in entries if self._by_posture(e)], background)
        weights, biases, heads = self._fitted_heads(rows, adapted)
        classifier = self._classifier()
        if classifier is not None:
            heads = self._with_concepts(heads, adapted, rows, classifier)
        keep_classifier = classifier is not None and any(head.concept_classes for head in heads)
        digest = self.digest(entries, background, kind=kind)
        return Adaptation(
            version=digest[:12],
            kind=kind,
            model_version=self._embedder.version,
            watchlist_revision=revision,
            data_digest=digest,
            trained_at=datetime.now(UTC),
            training_s=time.perf_counter() - started,
            heads=heads,
            weights=weights.astype(np.float32),
            biases=biases.astype(np.float32),
            background=len(background),
            classifier=classifier.weights if keep_classifier else None,
            classifier_biases=classifier.biases if keep_classifier else None,
        )

    def _with_concepts(
        self,
        heads: tuple[EntryHead, ...],
        adapted: Sequence[EntryExamples],
        rows: _Rows,
        classifier: ImageNetClassifier,
    ) -> tuple[EntryHead, ...]:
        """Each head with the ImageNet classes its plain reference photos show (``watchlists.concepts``) and the
        summed probability of those classes that its negative examples, all of them, stay under."""
        settings = self._settings
        labels, mask = rows.targets(_same_label(adapted), np.ones(len(rows.matrix), bool))
        probabilities: np.ndarray | None = None  # every row's, computed once an entry has concepts
        result = []
        for e, (head, entry) in enumerate(zip(heads, adapted, strict=True)):
            self._check_cancel()
            plain = classifier.probabilities(self._embed(list(entry.references)))
            classes = reference_concepts(plain, mass=settings.concept_mass, most=settings.max_concepts)
            if not classes:
                result.append(head)
                continue
            if probabilities is None:
                probabilities = classifier.probabilities(rows.matrix)
            negatives = probabilities[mask[:, e] & (labels[:, e] == 0)][:, classes].sum(axis=1)
            threshold = concept_threshold(
                negatives, target_fpr=settings.target_fpr, floor=settings.min_concept_threshold
            )
            names = tuple(classifier.names[c] for c in classes)
            result.append(replace(head, concepts=names, concept_classes=classes, concept_threshold=threshold))
        return tuple(result)

    def _rows(
        self, adapted: Sequence[EntryExamples], by_posture: Sequence[EntryExamples], background: np.ndarray
    ) -> _Rows:
        """Every training example embedded: views of each entry's photos and negatives, of the photos of entries
        matched by posture (shared negatives), generic views, background."""
        settings = self._settings
        augmenter = ReferenceAugmenter(generic_negative_images(), seed=settings.seed)
        rows = _Rows(len(adapted))
        total = sum(len(e.references) + len(e.negatives) for e in adapted) + sum(len(e.references) for e in by_posture)
        done = 0
        for position, entry in enumerate(adapted):
            for index, photo in enumerate(entry.references):
                self._check_cancel()
                views = augmenter.views(photo, settings.views_per_reference)
                rows.add(self._embed(views), owner=position, positive=True, held_out=_held_out(index, entry.references))
                if len(entry.references) < HOLD_OUT_EVERY:  # too few to hold a photo back: fresh views of each
                    fresh = augmenter.views(photo, max(1, settings.views_per_reference // 4))
                    rows.add(self._embed(fresh), owner=position, positive=True, held_out=True)
                done += 1
                self._progress("embedding views", done, total)
            for index, photo in enumerate(entry.negatives):
                self._check_cancel()
                views = augmenter.views(photo, settings.views_per_negative, paste=False)
                rows.add(self._embed(views), owner=position, positive=False, held_out=index % HOLD_OUT_EVERY == 4)
                done += 1
                self._progress("embedding views", done, total)
        for entry in by_posture:  # as many views as a head's own photos get: the other heads learn as much from them
            for index, photo in enumerate(entry.references):
                self._check_cancel()
                views = self._embed(augmenter.views(photo, settings.views_per_reference))
                rows.add_shared(views, held_out=np.full(len(views), _held_out(index, entry.references)))
                done += 1
                self._progress("embedding views", done, total)
        generic, generic_source = self._generic_views()
        rows.add_shared(generic, held_out=generic_source % HOLD_OUT_EVERY == 4)
        rng = np.random.default_rng(settings.seed)
        rows.add_shared(background, held_out=rng.random(len(background)) < 1 / HOLD_OUT_EVERY)
        self._check_cancel()
        return rows

    def _fitted_heads(
        self, rows: _Rows, adapted: Sequence[EntryExamples]
    ) -> tuple[np.ndarray, np.ndarray, tuple[EntryHead, ...]]:
        """Fit on the examples not held back, calibrate each threshold on those held back, refit on everything."""
        settings = self._settings
        same_label = _same_label(adapted)
        everything = np.ones(len(rows.matrix), bool)
        self._progress("fitting heads", 0, 2)
        train = ~rows.held_out
        weights, biases = _fit(rows.matrix[train], *rows.targets(same_label, train), settings.regularisation)
        scores = _logistic(rows.matrix[~train] @ weights.T + biases)
        labels, mask = rows.targets(same_label, ~train)
        stats = [_calibrate(scores[:, e], labels[:, e], mask[:, e], settings) for e in range(len(adapted))]
        self._check_cancel()
        self._progress("fitting heads", 1, 2)
        all_labels, all_mask = rows.targets(same_label, everything)
        weights, biases = _fit(rows.matrix, all_labels, all_mask, settings.regularisation, start=(weights, biases))
        self._progress("fitting heads", 2, 2)
        heads = tuple(
            EntryHead(
                entry_id=entry.entry_id,
                label=entry.label,
                threshold=threshold,
                references=len(entry.references),
                negatives=int((all_mask[:, e] & (all_labels[:, e] == 0)).sum()),
                validation_recall=recall,
                validation_fpr=fpr,
            )
            for e, (entry, (threshold, recall, fpr)) in enumerate(zip(adapted, stats, strict=True))
        )
        return weights, biases, heads

    def adaptable(self, entries: Sequence[EntryExamples]) -> list[EntryExamples]:
        """The entries that get a head: those with ``min_references`` photos or more, unless matched by posture."""
        return [e for e in entries if len(e.references) >= self._settings.min_references and not self._by_posture(e)]

    def nothing_to_adapt(self, entries: Sequence[EntryExamples], kind: str) -> str:
        """Why ``adaptable(entries)`` is empty, in words for the admin."""
        enough = f"{self._settings.min_references} or more photos"
        if any(self._by_posture(e) for e in entries):
            labels = ", ".join(self._settings.posture_labels)
            return f"entries labelled {labels} are matched by posture, and no other {kind} entry has {enough}"
        return f"no {kind} entry has {enough}"

    def _by_posture(self, entry: EntryExamples) -> bool:
        return label_key(entry.label) in self._settings.posture_labels

    def digest(self, entries: Sequence[EntryExamples], background: np.ndarray | None, *, kind: str) -> str:
        """What ``train`` would name its result. Its settings say whether concepts were used, not only asked for:
        a node without torch trains without them, and its result must not pass for one that has them."""
        return self._digest(entries, background, kind, concepts=self._classifier() is not None)

    def is_current(
        self, serving_digest: str, entries: Sequence[EntryExamples], background: np.ndarray | None, *, kind: str
    ) -> bool:
        """Whether the serving adaptation is what a training here would give, or better: a node that cannot read the
        ImageNet classifier keeps one trained with concepts by a node that can (otherwise the two would retrain
        each other's result forever)."""
        if serving_digest == self.digest(entries, background, kind=kind):
            return True
        return self._settings.concepts and serving_digest == self._digest(entries, background, kind, concepts=True)

    def _digest(
        self, entries: Sequence[EntryExamples], background: np.ndarray | None, kind: str, *, concepts: bool
    ) -> str:
        sample = _background_sample(background, self._embedder.dim, self._settings)
        settings = replace(self._settings, concepts=concepts)
        return training_digest(self._embedder.version, kind, self.adaptable(entries), sample, settings)

    def _classifier(self) -> ImageNetClassifier | None:
        """The backbone's ImageNet classifier when concepts are on and it can be read (torch, a known model)."""
        if not self._settings.concepts:
            return None
        return imagenet_classifier(self._embedder.version.split("@")[0])

    def _embed(self, views: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self._embedder.embed(views), dtype=np.float32)

    def _generic_views(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the generic set, embedded once per process and model (they never change), and read from the
        view cache on disk when a previous process left them there."""
        settings = self._settings
        key = (self._embedder.version, settings.views_per_generic, settings.night_views_per_generic, settings.seed)
        with _GENERIC_LOCK:
            if key not in _GENERIC_CACHE:
                photos = generic_negative_images()
                disk_key = generic_view_key(key[0], photos, key[1:])
                stored = self._view_cache.load(disk_key, self._embedder.dim) if self._view_cache else None
                if stored is None:
                    stored = self._embed_generic_views(photos)
                    if self._view_cache is not None:
                        self._view_cache.save(disk_key, *stored)
                _GENERIC_CACHE[key] = stored
            return _GENERIC_CACHE[key]

    def _embed_generic_views(self, photos: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        settings = self._settings
        augmenter = ReferenceAugmenter(seed=settings.seed + 1)
        night = np.random.default_rng(settings.seed + 2)
        vectors, sources = [], []
        for index, photo in enumerate(photos):
            self._check_cancel()
            views = [photo, *augmenter.views(photo, settings.views_per_generic - 1, paste=False)]
            views += [
                augmenter.view(night_view(photo, night), paste=False) for _ in range(settings.night_views_per_generic)
            ]
            vectors.append(self._embed(views))
            sources += [index] * len(views)
            self._progress("embedding generic scenes", index + 1, len(photos))
        return np.concatenate(vectors), np.array(sources)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise TrainingCancelled("training cancelled")


class _Rows:
    """The feature matrix and, per row, whose example it is: an entry's positive, an entry's own negative, or a
    negative shared by every head (generic scenes, background)."""

    SHARED = -1

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._blocks: list[np.ndarray] = []
        self._owner: list[np.ndarray] = []
        self._positive: list[np.ndarray] = []
        self._held_out: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None

    def add(self, vectors: np.ndarray, *, owner: int, positive: bool, held_out: bool | np.ndarray) -> None:
        count = len(vectors)
        self._blocks.append(vectors)
        self._owner.append(np.full(count, owner))
        self._positive.append(np.full(count, positive))
        self._held_out.append(np.broadcast_to(np.asarray(held_out, dtype=bool), (count,)).copy())
        self._matrix = None

    def add_shared(self, vectors: np.ndarray, *, held_out: np.ndarray) -> None:
        if len(vectors):
            self.add(vectors, owner=self.SHARED, positive=False, held_out=held_out)

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.ascontiguousarray(np.concatenate(self._blocks), dtype=np.float32)
        return self._matrix

    @property
    def held_out(self) -> np.ndarray:
        return np.concatenate(self._held_out)

    def targets(self, same_label: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, mask)``, both ``(rows, heads)``: 1 where a row is head e's positive; mask where it counts."""
        owner, positive = np.concatenate(self._owner)[rows], np.concatenate(self._positive)[rows]
        heads = np.arange(self._entries)
        own = owner[:, None] == heads[None, :]
        labels = (own & positive[:, None]).astype(np.float32)
        shared = (owner == self.SHARED)[:, None]
        others_photos = positive[:, None] & ~own & ~same_label[np.maximum(owner, 0)][:, heads] & ~shared
        mask = own | shared | others_photos
        return labels, mask


def _same_label(entries: Sequence[EntryExamples]) -> np.ndarray:
    """``(E, E)``: entries whose labels are the same words (two "fire" entries teach each other nothing)."""
    keys = [label_key(e.label) for e in entries]
    return np.array([[a == b for b in keys] for a in keys])


def _held_out(index: int, photos: Sequence[np.ndarray]) -> bool:
    """Every fifth photo is held back, when an entry has five or more (fewer: every photo trains, and fresh views of
    them are held back instead, which makes the reported recall optimistic)."""
    return len(photos) >= HOLD_OUT_EVERY and index % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1


def _background_sample(background: np.ndarray | None, dim: int, settings: TrainingSettings) -> np.ndarray:
    if background is None or not len(background):
        return np.empty((0, dim), np.float32)
    if background.shape[1] != dim:
        raise ValueError(f"background rows have {background.shape[1]} features, the model gives {dim}")
    if len(background) > settings.max_background:  # evenly spaced: the rows come ordered by camera and time
        background = background[np.linspace(0, len(background) - 1, settings.max_background).astype(int)]
    return np.ascontiguousarray(background, dtype=np.float32)


def _fit(
    x: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    regularisation: float,
    *,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every head's weights ``(E, dim)`` and bias ``(E,)``: balanced logistic loss plus an L2 penalty, minimised
    jointly (one matrix product per step serves all heads)."""
    from scipy.optimize import minimize  # SciPy loads when a training runs, not with the config

    dim = x.shape[1]
    heads = labels.shape[1]
    positives = (labels * mask).sum(axis=0)
    negatives = ((1 - labels) * mask).sum(axis=0)
    sample_weight = mask * np.where(labels > 0, 0.5 / np.maximum(positives, 1), 0.5 / np.maximum(negatives, 1))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        weights = params[: dim * heads].reshape(dim, heads)
        bias = params[dim * heads :]
        z = x @ weights + bias
        per_row = np.logaddexp(0, -z) * labels + np.logaddexp(0, z) * (1 - labels)
        value = float((sample_weight * per_row).sum() + 0.5 * regularisation * (weights * weights).sum())
        gradient = sample_weight * (_logistic(z) - labels)
        grad_w = x.T @ gradient + regularisation * weights
        return value, np.concatenate([grad_w.ravel(), gradient.sum(axis=0)]).astype(np.float64)

    if start is None:
        initial = np.zeros(dim * heads + heads)
    else:
        initial = np.concatenate([start[0].T.ravel(), start[1]]).astype(np.float64)
    result = minimize(loss, initial, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    weights = result.x[: dim * heads].reshape(dim, heads).T
    return np.ascontiguousarray(weights, dtype=np.float32), result.x[dim * heads :].astype(np.float32)


def _calibrate(
    scores: np.ndarray, labels: np.ndarray, mask: np.ndarray, settings: TrainingSettings
) -> tuple[float, float, float]:
    """A head's threshold from its held-back negatives, and the recall and false-positive rate it gives."""
    negatives = scores[mask & (labels == 0)]
    positives = scores[mask & (labels == 1)]
    threshold = settings.min_threshold
    if len(negatives):
        threshold = max(threshold, float(np.quantile(negatives, 1 - settings.target_fpr, method="higher")) + 1e-4)
    if len(positives):
        threshold = max(threshold, float(np.quantile(positives, settings.positive_quantile)))
    threshold = min(threshold, 0.99)
    recall = float((positives >= threshold).mean()) if len(positives) else float("nan")
    fpr = float((negatives >= threshold).mean()) if len(negatives) else float("nan")
    return threshold, recall, fpr


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def training_digest(
    model_version: str, kind: str, entries: Sequence[EntryExamples], background: np.ndarray, settings: TrainingSettings
) -> str:
    """SHA-256 of everything a training reads: the same digest means the same heads."""
    described = {
        "model": model_version,
        "kind": kind,
        "settings": asdict(settings),
        "entries": [
            [e.entry_id, e.label, sorted(e.reference_sha256), sorted(e.negative_sha256)]
            for e in sorted(entries, key=lambda e: e.entry_id)
        ],
        "background": hashlib.sha256(np.ascontiguousarray(background, dtype=np.float32).tobytes()).hexdigest(),
        "generic": len(generic_negative_images()),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
