"""The SQLite watchlist store: atomic writes (even under kill -9), duplicates reported not stored, audit, revision."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists.errors import (
    AmbiguousEntryIdError,
    EmbeddingMismatchError,
    EntryNotFoundError,
    InvalidEntryError,
    NoNewImagesError,
    StoreError,
)
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def _counts(path: Path) -> dict[str, int]:
    """Rows per table, read with a separate plain connection (what another process would see)."""
    with closing(sqlite3.connect(path)) as db:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("entries", "images", "embeddings", "audit_log")
        }


def test_creating_an_entry_stores_images_embeddings_and_one_audit_row(store: WatchlistStore) -> None:
    images = [new_image(unit(1), "a"), new_image(unit(1, 1), "b")]

    result = store.create_entry("anomaly", "fire", images, actor="alice", threshold=0.8, cameras=["lobby"], notes="n")

    entry = store.get_entry(result.entry.id)
    assert (entry.kind, entry.label, entry.threshold, entry.cameras, entry.notes) == (
        "anomaly",
        "fire",
        0.8,
        ("lobby",),
        "n",
    )
    assert entry.enabled and entry.image_count == 2 and result.duplicates == ()
    stored = store.entry_images(entry.id)
    assert [i.source for i in stored] == ["a.png", "b.png"] and all(i.added_by == "alice" for i in stored)
    assert all(i.model_versions == (TEST_MODEL,) for i in stored)
    assert store.image_bytes(stored[0].id) == images[0].data
    vectors = store.embeddings("anomaly", TEST_MODEL)
    np.testing.assert_array_equal(vectors.vectors, np.stack([unit(1), unit(1, 1)]))
    [audit] = store.audit()
    assert (audit.actor, audit.action, audit.entry_id) == ("alice", "entry.created", entry.id)
    assert audit.detail["image_ids"] == [i.id for i in stored] and audit.detail["label"] == "fire"


def test_the_same_image_twice_is_reported_not_duplicated_even_across_entries(store: WatchlistStore) -> None:
    first = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")

    second = store.create_entry(
        "face", "jane", [new_image(unit(2), "a"), new_image(unit(3), "b"), new_image(unit(3), "b")], actor="bob"
    )

    assert [(d.source, d.entry_id) for d in second.duplicates] == [
        ("a.png", first.entry.id),
        ("b.png", second.entry.id),
    ]
    assert [i.source for i in second.added] == ["b.png"]
    assert _counts(store.path)["images"] == 2
    assert store.audit(second.entry.id)[0].detail["duplicates_skipped"][0]["entry_id"] == first.entry.id


def test_an_entry_whose_images_are_all_stored_already_is_refused_and_nothing_is_written(store: WatchlistStore) -> None:
    store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")
    before, revision = _counts(store.path), store.revision()

    with pytest.raises(NoNewImagesError, match="already stored"):
        store.create_entry("anomaly", "fire again", [new_image(unit(1), "a")], actor="alice")

    assert _counts(store.path) == before and store.revision() == revision


def test_a_failure_in_the_middle_of_a_write_leaves_nothing_behind(store: WatchlistStore) -> None:
    revision = store.revision()
    wrong_dim = new_image(unit(1, dim=DIM + 1), "wrong")

    with pytest.raises(EmbeddingMismatchError, match="9 dimensions"):  # raised after the entry and image 1 went in
        store.create_entry("anomaly", "fire", [new_image(unit(1), "a"), wrong_dim], actor="alice")

    assert _counts(store.path) == {"entries": 0, "images": 0, "embeddings": 0, "audit_log": 0}
    assert store.revision() == revision
    assert store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice").entry.image_count == 1


_WRITE_THEN_HANG = """
import hashlib, sys, time
import numpy as np
from tests.watchlists.samples import TEST_MODEL, unit
from watchlists import rows
from watchlists.records import NewImage
from watchlists.store import WatchlistStore

insert_images = rows.insert_images
def insert_then_hang(*args, **kwargs):
    result = insert_images(*args, **kwargs)  # entry, images and embeddings written, the transaction still open
    print("inside the transaction", flush=True)
    time.sleep(600)
    return result
rows.insert_images = insert_then_hang

rng = np.random.default_rng(1)
blobs = [rng.bytes(1_500_000) for _ in range(3)]  # 4.5 MB: more than SQLite's page cache, so pages reach the WAL
images = [NewImage(b, hashlib.sha256(b).hexdigest(), "image/png", 9, 9, f"big{i}", unit(1, i), TEST_MODEL)
          for i, b in enumerate(blobs)]
WatchlistStore(sys.argv[1]).create_entry("anomaly", "half-written", images, actor="crash")
"""


def test_a_kill_9_in_the_middle_of_an_enrollment_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    with WatchlistStore(path) as store:
        kept = store.create_entry("anomaly", "kept", [new_image(unit(1), "kept")], actor="alice").entry
        revision = store.revision()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITE_THEN_HANG, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "inside the transaction\n"
        assert Path(f"{path}-wal").stat().st_size > 1_000_000, "uncommitted pages should have reached the WAL"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()

    with WatchlistStore(path) as store:
        assert [e.id for e in store.list_entries()] == [kept.id]
        assert store.revision() == revision and len(store.audit()) == 1
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        index = WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=0.5)
        assert [m.label for m in index.search(unit(1)[None])[0]] == ["kept"]
        assert store.create_entry("anomaly", "after", [new_image(unit(2), "after")], actor="alice")  # lock released


def test_removing_an_entry_removes_its_images_and_embeddings_but_the_audit_log_keeps_it(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a"), new_image(unit(2), "b")], actor="a").entry

    removed = store.remove_entry(entry.id, actor="bob")

    assert removed.label == "fire" and store.list_entries() == []
    assert _counts(store.path) == {"entries": 0, "images": 0, "embeddings": 0, "audit_log": 2}
    assert [a.action for a in store.audit(entry.id)] == ["entry.removed", "entry.created"]
    assert len(store.audit(entry.id)[0].detail["sha256"]) == 2


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"])
def test_the_audit_log_is_append_only(store: WatchlistStore, statement: str) -> None:
    store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")

    with closing(sqlite3.connect(store.path)) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute(statement)

    assert store.audit()[0].actor == "alice"


def test_the_revision_grows_with_every_committed_change_and_only_then(store: WatchlistStore) -> None:
    seen = [store.revision()]
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a").entry
    seen.append(store.revision())
    store.add_images(entry.id, [new_image(unit(2), "b")], actor="a")
    seen.append(store.revision())
    store.set_enabled(entry.id, False, actor="a")
    seen.append(store.revision())
    store.list_entries(), store.embeddings("anomaly", TEST_MODEL), store.audit()
    with pytest.raises(NoNewImagesError):
        store.create_entry("anomaly", "dup", [new_image(unit(1), "a")], actor="a")
    seen.append(store.revision())
    store.remove_entry(entry.id, actor="a")
    seen.append(store.revision())

    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4] < seen[5]


def test_another_connection_sees_a_change_through_the_revision(store: WatchlistStore) -> None:
    with WatchlistStore(store.path) as other:
        revision = other.revision()
        store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a")

        assert other.revision() > revision
        assert [e.label for e in other.list_entries()] == ["fire"]


@pytest.mark.parametrize(
    ("label", "threshold", "cameras", "message"),
    [
        ("  ", None, (), "label"),
        ("fire", 1.5, (), "threshold"),
        ("fire", float("nan"), (), "threshold"),
        ("fire", None, ("lobby/door",), "camera"),
        ("fire", None, ("",), "camera"),
    ],
)
def test_unusable_entry_fields_are_refused_naming_the_field(
    store: WatchlistStore, label: str, threshold: float | None, cameras: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidEntryError, match=message) as refused:
        store.create_entry("anomaly", label, [new_image(unit(1), "a")], actor="a", threshold=threshold, cameras=cameras)

    assert refused.value.exit_code == 2
    assert _counts(store.path)["entries"] == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_entry("0" * 32),
        lambda s: s.remove_entry("0" * 32, actor="a"),
        lambda s: s.set_enabled("0" * 32, False, actor="a"),
        lambda s: s.add_images("0" * 32, [new_image(unit(1), "a")], actor="a"),
        lambda s: s.entry_images("0" * 32),
        lambda s: s.resolve_entry_id("0"),
        lambda s: s.image_bytes(999),
    ],
    ids=["get", "remove", "set_enabled", "add_images", "entry_images", "resolve", "image_bytes"],
)
def test_an_unknown_id_is_entry_not_found(store: WatchlistStore, call: Callable[[WatchlistStore], Any]) -> None:
    with pytest.raises(EntryNotFoundError):
        call(store)

    assert _counts(store.path)["images"] == 0


def test_an_id_resolves_from_a_unique_prefix_and_an_ambiguous_one_is_refused(store: WatchlistStore) -> None:
    ids = [store.create_entry("anomaly", f"e{i}", [new_image(unit(1), f"p{i}")], actor="a").entry.id for i in range(17)]
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)  # 17 ids, 16 digits

    assert store.resolve_entry_id(ids[0][:12]) == ids[0]
    assert store.resolve_entry_id(ids[0].upper()) == ids[0]
    with pytest.raises(AmbiguousEntryIdError):
        store.resolve_entry_id(shared)


def test_embeddings_are_read_per_kind_and_model_and_disabled_entries_only_on_request(store: WatchlistStore) -> None:
    fire = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a").entry
    off = store.create_entry("anomaly", "off", [new_image(unit(2), "b")], actor="a").entry
    store.create_entry("face", "jane", [new_image(unit(3), "c")], actor="a")
    store.create_entry("anomaly", "other model", [new_image(unit(4), "d", model_version="other@1")], actor="a")
    store.set_enabled(off.id, False, actor="a")

    enabled = store.embeddings("anomaly", TEST_MODEL)
    everything = store.embeddings("anomaly", TEST_MODEL, enabled_only=False)

    assert enabled.entry_ids == (fire.id,) and enabled.dim == DIM
    assert [e.label for e in enabled.entries] == ["fire", "other model"]  # the latter has nothing for this model
    assert everything.entry_ids == (fire.id, off.id) and everything.revision == store.revision()


def test_a_store_that_cannot_be_created_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(StoreError, match="cannot open"):
        WatchlistStore(tmp_path / "file" / "watchlist.db")
