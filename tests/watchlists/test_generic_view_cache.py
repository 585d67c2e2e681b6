"""The generic set's embedded views on disk: a second process reads them instead of embedding them again and trains
the same heads; a corrupt, foreign or stale file is never used."""

from __future__ import annotations

import os

import numpy as np
import skimage.data

from engines.scene import SceneEmbedder
from watchlists.adaptation_training import EntryExamples, HeadTrainer, TrainingSettings, forget_generic_views
from watchlists.generic_view_cache import KEEP, GenericViewCache, generic_view_key

ROCKET = skimage.data.rocket()
ENTRY = EntryExamples(
    "e" * 32, "Rocket launch", [ROCKET[0:330, 100:420], ROCKET[40:400, 150:450]], ["a" * 64, "b" * 64]
)
SMALL = TrainingSettings(views_per_reference=4, views_per_negative=2, views_per_generic=2, night_views_per_generic=1)


def train(embedder: SceneEmbedder, cache: GenericViewCache) -> tuple[np.ndarray, set[str]]:
    """A training's head weights and the stages it went through."""
    stages: set[str] = set()
    trainer = HeadTrainer(embedder, SMALL, progress=lambda stage, done, total: stages.add(stage), view_cache=cache)
    return trainer.train([ENTRY], revision=1, kind="anomaly").weights, stages


def test_the_next_process_reads_the_views_instead_of_embedding_them_and_trains_the_same_heads(scene_embedder, tmp_path):
    cache = GenericViewCache(tmp_path)
    forget_generic_views()  # as in a new process
    first, first_stages = train(scene_embedder, cache)
    assert "embedding generic scenes" in first_stages and len(list(tmp_path.glob("generic-views-*.npz"))) == 1
    forget_generic_views()
    second, second_stages = train(scene_embedder, cache)
    assert "embedding generic scenes" not in second_stages
    np.testing.assert_allclose(second, first, atol=1e-6)


def test_a_corrupt_or_foreign_file_is_ignored_and_replaced(tmp_path, caplog):
    cache = GenericViewCache(tmp_path)
    vectors, sources = np.eye(3, 8, dtype=np.float32), np.array([0, 0, 1])
    cache.save("a" * 64, vectors, sources)
    loaded = cache.load("a" * 64, dim=8)
    assert loaded is not None and np.array_equal(loaded[0], vectors) and np.array_equal(loaded[1], sources)
    assert cache.load("a" * 64, dim=1280) is None  # another model's width

    cache.path("b" * 64).write_bytes(cache.path("a" * 64).read_bytes())  # a file under another key's name
    assert cache.load("b" * 64, dim=8) is None
    cache.path("a" * 64).write_bytes(b"PK\x03\x04 not an npz")
    assert cache.load("a" * 64, dim=8) is None and "unreadable" in caplog.text
    cache.save("a" * 64, vectors, sources)
    assert cache.load("a" * 64, dim=8) is not None
    assert not list(tmp_path.glob(".generic-views-*"))  # no half-written file left behind


def test_without_a_configured_folder_the_views_go_where_the_exported_models_go(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "models"))
    cache = GenericViewCache(None)  # models.cache_dir left out of the config
    cache.save("c" * 64, np.eye(2, 4, dtype=np.float32), np.array([0, 1]))
    assert cache.path("c" * 64).parent == tmp_path / "models" and cache.load("c" * 64, dim=4) is not None


def test_only_the_newest_files_are_kept(tmp_path):
    cache = GenericViewCache(tmp_path)
    for number in range(KEEP + 2):
        cache.save(str(number) * 64, np.eye(2, 4, dtype=np.float32), np.array([0, 1]))
        os.utime(cache.path(str(number) * 64), (number, number))  # saved one after the other
    kept = sorted(tmp_path.glob("generic-views-*.npz"))
    assert kept == sorted(cache.path(str(number) * 64) for number in range(2, KEEP + 2))


def test_the_key_follows_the_model_the_photos_and_the_view_settings():
    photos = [skimage.data.coffee(), skimage.data.chelsea()]
    key = generic_view_key("mobilenet_v2@1", photos, (12, 4, 0))
    assert key == generic_view_key("mobilenet_v2@1", [p.copy() for p in photos], (12, 4, 0))
    assert key != generic_view_key("mobilenet_v2@2", photos, (12, 4, 0))
    assert key != generic_view_key("mobilenet_v2@1", photos, (12, 5, 0))
    brighter = [photos[0], np.clip(photos[1].astype(int) + 1, 0, 255).astype(np.uint8)]
    assert key != generic_view_key("mobilenet_v2@1", brighter, (12, 4, 0))
