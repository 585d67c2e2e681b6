"""Few-shot adaptation: how long a training takes, and what trained heads add to each keyframe.

Training (the issue's budget: 10 entries x 10 photos + 2,000 background regions in under 60 s on 2 cores): entries
are crops of scikit-image's and the generic set's photos (one photo per entry, ten framings each); the background is
region embeddings of other crops, as the keyframe archive would hand them over. Timed cold (the generic negative set
embedded first, as at a node's first training), first in a later process (the views read from the view cache on
disk) and warm (cached in memory, as on every later one), with the model on one thread (what the service's trainer
uses) and on all cores.

Per keyframe: the matcher on one batch of keyframes' region embeddings with and without heads, beside the time the
scene model takes to embed those keyframes, all measured in this process one after the other.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from engines.backends import BackendOptions
from engines.regions import RegionGrid
from engines.scene import SceneEmbedder, load_scene_embedder
from streamer.bench.report import BenchTable, console
from streamer.demo.scenes import demo_frames
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from watchlists.adaptation import Adaptation
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.adaptation_training import EntryExamples, HeadTrainer, forget_generic_views
from watchlists.augment import ReferenceAugmenter
from watchlists.generic_negatives import generic_negative_images
from watchlists.generic_view_cache import GenericViewCache
from watchlists.index import WatchlistIndex
from watchlists.records import NewImage
from watchlists.store import WatchlistStore

GRID = RegionGrid.parse("3x2")
BATCH = 8


def bench_adaptation(entries: int, photos: int, background: int, repeats: int) -> list[BenchTable]:
    """Training time for ``entries`` x ``photos`` with ``background`` regions; per-keyframe cost with heads."""
    models = {threads: load_scene_embedder(options=BackendOptions(threads=threads)) for threads in (1, 0)}
    examples = _entries(entries, photos)
    rows = _background(models[0], background)
    training = BenchTable(
        f"adaptation training: {entries} entries x {photos} photos, {len(rows)} background regions (s)",
        ["model threads", "cold (generic set embedded)", "first, views on disk", "warm (median)", "warm (min-max)",
         "heads"],
    )  # fmt: skip
    adaptation = None
    for threads, model in models.items():
        with tempfile.TemporaryDirectory() as folder:
            cache = GenericViewCache(Path(folder))
            forget_generic_views()  # cold: as at a node's first training, with nothing on disk
            started = time.perf_counter()
            adaptation = HeadTrainer(model, view_cache=cache).train(examples, rows, revision=1, kind="anomaly")
            cold = time.perf_counter() - started
            forget_generic_views()  # a later process: the views are read from the cache
            trainer = HeadTrainer(model, view_cache=cache)
            started = time.perf_counter()
            trainer.train(examples, rows, revision=1, kind="anomaly")
            first = time.perf_counter() - started
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            trainer.train(examples, rows, revision=1, kind="anomaly")
            warm.append(time.perf_counter() - started)
        label = "1 (service trainer)" if threads == 1 else "all cores (vigil adapt)"
        training.rows.append(
            [
                label,
                f"{cold:.1f}",
                f"{first:.1f}",
                f"{np.median(warm):.1f}",
                f"{min(warm):.1f}-{max(warm):.1f}",
                str(len(examples)),
            ]
        )
    training.notes.append("budget: under 60 s on 2 cores; 'warm' is every training after a process's first")
    training.notes.append("'first, views on disk': a process's first training once another cached the generic views")
    assert adaptation is not None
    return [training, _per_keyframe(models[0], adaptation, examples, repeats)]


def _entries(count: int, photos: int) -> list[EntryExamples]:
    sources = generic_negative_images()
    augmenter = ReferenceAugmenter(seed=7)
    return [
        EntryExamples(f"{number:032x}", f"entry {number}", augmenter.views(sources[number], photos, paste=False))
        for number in range(count)
    ]


def _background(model: SceneEmbedder, regions: int) -> np.ndarray:
    frames = [frame for _, frame in zip(range(max(1, regions // GRID.per_frame)), demo_frames(), strict=False)]
    vectors = model.embed_regions(frames, GRID).vectors
    return vectors[:regions]


def _per_keyframe(
    model: SceneEmbedder, adaptation: Adaptation, examples: list[EntryExamples], repeats: int
) -> BenchTable:
    frames = [frame for _, frame in zip(range(BATCH), demo_frames(), strict=False)]
    keyframes = [Keyframe("bench", frame, datetime.now(UTC), time.monotonic()) for frame in frames]
    table = BenchTable(
        f"per keyframe, batches of {BATCH} keyframes with 3x2 regions ({len(adaptation.heads)} heads), ms",
        ["stage", "median", "min", "share of embedding"],
    )
    embed = _timed(lambda: model.embed_regions(frames, GRID), repeats)
    embeddings = model.embed_regions(frames, GRID)
    with tempfile.TemporaryDirectory() as folder:
        store = WatchlistStore(Path(folder) / "watchlist.db")
        for entry in examples:  # the heads' entries, each with one photo (the cosine path searches those)
            store.create_entry("anomaly", entry.label, [_stored(model, entry.references[0])], actor="bench",
                               entry_id=entry.entry_id)  # fmt: skip
        index = WatchlistIndex.from_store(store, "anomaly", model.version, default_threshold=0.75)
        slot = AdaptationSlot(store, "anomaly", model.version)
        slot.publish(adaptation)
        plain = SceneMatcher(index, VigilMetrics())
        adapted = SceneMatcher(index, VigilMetrics(), adaptation=slot)
        cosine = _timed(lambda: plain.match(keyframes, embeddings), repeats * 20)
        heads = _timed(lambda: adapted.match(keyframes, embeddings), repeats * 20)
        store.close()
    for name, seconds in (("embed (scene model, 7 regions)", embed), ("match, cosine only", cosine),
                          ("match, with trained heads", heads)):  # fmt: skip
        per_frame = [s / BATCH * 1000 for s in seconds]
        share = np.median(seconds) / np.median(embed)
        table.rows.append([name, f"{np.median(per_frame):.3f}", f"{min(per_frame):.3f}", f"{share:.1%}"])
    extra = (np.median(heads) - np.median(cosine)) / np.median(embed)
    table.notes.append(f"heads add {extra:.2%} to a keyframe's inference (budget: under 10%)")
    named = sum(bool(head.concepts) for head in adaptation.heads)
    table.notes.append(f"{named} of {len(adaptation.heads)} heads have ImageNet concepts (scored with them)")
    return table


def _stored(model: SceneEmbedder, photo: np.ndarray) -> NewImage:
    data = cv2.imencode(".png", np.ascontiguousarray(photo[:, :, ::-1]))[1].tobytes()
    height, width = photo.shape[:2]
    embedding = model.embed([photo])[0]
    return NewImage(
        data, hashlib.sha256(data).hexdigest(), "image/png", width, height, "bench", embedding, model.version
    )


def _timed(call, repeats: int) -> list[float]:
    call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


if __name__ == "__main__":  # python -m streamer.bench.adaptation
    for table in bench_adaptation(10, 10, 2000, 3):
        table.show()
    console.print("done")
