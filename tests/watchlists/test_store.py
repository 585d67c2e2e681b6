"""The watchlist store on both engines: atomic writes, duplicates reported not stored, audit, revision; and on
SQLite, a kill -9 mid-write. PostgreSQL's own promises are in ``test_store_postgres``."""

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
import psycopg
import pytest

from tests.watchlists.conftest import PlainSql
from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists import batched_sql
from watchlists.database import open_database
from watchlists.errors import (
    AmbiguousEntryIdError,
    DuplicateImageError,
    EmbeddingMismatchError,
    EntryNotFoundError,
    InvalidEntryError,
    LastImageError,
    NoNewImagesError,
    StoreError,
)
from watchlists.index import WatchlistIndex
from watchlists.records import NewEmbedding
from watchlists.store import WatchlistStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def _counts(plain_sql: PlainSql) -> dict[str, int]:
    """Rows per table, read with a separate plain connection (what another process would see)."""
    return {t: plain_sql(f"SELECT count(*) FROM {t}")[0][0] for t in ("entries", "images", "embeddings", "audit_log")}


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


def test_the_same_image_twice_is_reported_not_duplicated_even_across_entries(
    store: WatchlistStore, plain_sql: PlainSql
) -> None:
    first = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")

    second = store.create_entry(
        "face", "jane", [new_image(unit(2), "a"), new_image(unit(3), "b"), new_image(unit(3), "b")], actor="bob"
    )

    assert [(d.source, d.entry_id) for d in second.duplicates] == [
        ("a.png", first.entry.id),
        ("b.png", second.entry.id),
    ]
    assert [i.source for i in second.added] == ["b.png"]
    assert _counts(plain_sql)["images"] == 2
    assert store.audit(second.entry.id)[0].detail["duplicates_skipped"][0]["entry_id"] == first.entry.id


def test_an_entry_whose_images_are_all_stored_already_is_refused_and_nothing_is_written(
    store: WatchlistStore, plain_sql: PlainSql
) -> None:
    store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")
    before, revision = _counts(plain_sql), store.revision()

    with pytest.raises(NoNewImagesError, match="already stored"):
        store.create_entry("anomaly", "fire again", [new_image(unit(1), "a")], actor="alice")

    assert _counts(plain_sql) == before and store.revision() == revision


def test_a_failure_in_the_middle_of_a_write_leaves_nothing_behind(store: WatchlistStore, plain_sql: PlainSql) -> None:
    revision = store.revision()
    wrong_dim = new_image(unit(1, dim=DIM + 1), "wrong")

    with pytest.raises(EmbeddingMismatchError, match="9 dimensions"):  # raised after the entry and image 1 went in
        store.create_entry("anomaly", "fire", [new_image(unit(1), "a"), wrong_dim], actor="alice")

    assert _counts(plain_sql) == {"entries": 0, "images": 0, "embeddings": 0, "audit_log": 0}
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


def test_removing_an_entry_removes_its_images_and_embeddings_but_the_audit_log_keeps_it(
    store: WatchlistStore, plain_sql: PlainSql
) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a"), new_image(unit(2), "b")], actor="a").entry

    removed = store.remove_entry(entry.id, actor="bob")

    assert removed.label == "fire" and store.list_entries() == []
    assert _counts(plain_sql) == {"entries": 0, "images": 0, "embeddings": 0, "audit_log": 2}
    assert [a.action for a in store.audit(entry.id)] == ["entry.removed", "entry.created"]
    assert len(store.audit(entry.id)[0].detail["sha256"]) == 2


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"])
def test_the_audit_log_is_append_only(store: WatchlistStore, plain_sql: PlainSql, statement: str) -> None:
    store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="alice")

    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError), match="append-only"):
        plain_sql(statement)

    assert store.audit()[0].actor == "alice"


def test_the_revision_grows_with_every_committed_change_and_only_then(store: WatchlistStore) -> None:
    seen = [store.revision()]
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a").entry
    seen.append(store.revision())
    store.add_images(entry.id, [new_image(unit(2), "b")], actor="a")
    seen.append(store.revision())
    store.update_entry(entry.id, enabled=False, actor="a")
    seen.append(store.revision())
    store.list_entries(), store.embeddings("anomaly", TEST_MODEL), store.audit()
    with pytest.raises(NoNewImagesError):
        store.create_entry("anomaly", "dup", [new_image(unit(1), "a")], actor="a")
    seen.append(store.revision())
    store.remove_entry(entry.id, actor="a")
    seen.append(store.revision())

    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4] < seen[5]


def test_another_connection_sees_a_change_through_the_revision(store: WatchlistStore, watchlist_database: str) -> None:
    with WatchlistStore(watchlist_database) as other:
        revision = other.revision()
        store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a")

        assert other.revision() > revision
        assert [e.label for e in other.list_entries()] == ["fire"]


def test_image_ids_are_never_reused_even_after_the_newest_image_is_removed(store: WatchlistStore) -> None:
    first = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="t")
    store.remove_entry(first.entry.id, actor="t")

    second = store.create_entry("anomaly", "smoke", [new_image(unit(2), "b")], actor="t")

    assert second.added[0].id > first.added[0].id  # FAISS ids, cited by past alerts: never another image's


def test_what_the_schema_refuses_comes_back_as_the_same_store_errors_on_both_engines(
    store: WatchlistStore, watchlist_database: str
) -> None:
    stored = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="t")
    revision = store.revision()
    database = open_database(watchlist_database)  # a writer that skips the store's own duplicate check
    try:
        with pytest.raises(DuplicateImageError, match="already stored"), database.write() as db:
            db.execute(
                "INSERT INTO images (entry_id, sha256, media_type, bytes, width, height, added_by, added_at)"
                " VALUES (?, ?, 'image/png', ?, 1, 1, 't', ?)",
                (stored.entry.id, stored.added[0].sha256, b"x", "2026-01-01T00:00:00+00:00"),
            )
    finally:
        database.close()
    with pytest.raises(StoreError, match="the schema refused the write, nothing changed"):
        store.create_entry("anomaly", "same id", [new_image(unit(2), "b")], actor="t", entry_id=stored.entry.id)

    assert store.entry_images(stored.entry.id) == list(stored.added) and store.revision() == revision


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
    store: WatchlistStore,
    plain_sql: PlainSql,
    label: str,
    threshold: float | None,
    cameras: tuple[str, ...],
    message: str,
) -> None:
    with pytest.raises(InvalidEntryError, match=message) as refused:
        store.create_entry("anomaly", label, [new_image(unit(1), "a")], actor="a", threshold=threshold, cameras=cameras)

    assert refused.value.exit_code == 2
    assert _counts(plain_sql)["entries"] == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_entry("0" * 32),
        lambda s: s.remove_entry("0" * 32, actor="a"),
        lambda s: s.update_entry("0" * 32, enabled=False, actor="a"),
        lambda s: s.add_images("0" * 32, [new_image(unit(1), "a")], actor="a"),
        lambda s: s.entry_images("0" * 32),
        lambda s: s.resolve_entry_id("0"),
        lambda s: s.image_bytes(999),
    ],
    ids=["get", "remove", "update_entry", "add_images", "entry_images", "resolve", "image_bytes"],
)
def test_an_unknown_id_is_entry_not_found(
    store: WatchlistStore, plain_sql: PlainSql, call: Callable[[WatchlistStore], Any]
) -> None:
    with pytest.raises(EntryNotFoundError):
        call(store)

    assert _counts(plain_sql)["images"] == 0


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
    store.update_entry(off.id, enabled=False, actor="a")

    enabled = store.embeddings("anomaly", TEST_MODEL)
    everything = store.embeddings("anomaly", TEST_MODEL, enabled_only=False)

    assert enabled.entry_ids == (fire.id,) and enabled.dim == DIM
    assert [e.label for e in enabled.entries] == ["fire", "other model"]  # the latter has nothing for this model
    assert everything.entry_ids == (fire.id, off.id) and everything.revision == store.revision()


def test_a_store_that_cannot_be_created_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(StoreError, match="cannot open"):
        WatchlistStore(tmp_path / "file" / "watchlist.db")


def test_tuning_an_entry_changes_only_what_is_given_in_one_audited_write(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a", threshold=0.8).entry
    revision = store.revision()

    tuned = store.update_entry(entry.id, actor="bob", label="Fire (loading bay)", cameras=["bay"], notes="night")

    assert (tuned.label, tuned.threshold, tuned.cameras, tuned.notes, tuned.enabled) == (
        "Fire (loading bay)",
        0.8,
        ("bay",),
        "night",
        True,
    )
    assert store.get_entry(entry.id) == tuned and tuned.updated_at >= entry.updated_at
    assert store.revision() > revision
    last = store.audit(entry.id)[0]  # newest first
    assert (last.actor, last.action) == ("bob", "entry.updated")
    assert last.detail["changes"] == {
        "label": ["fire", "Fire (loading bay)"],
        "cameras": [[], ["bay"]],
        "notes": ["", "night"],
    }

    assert store.update_entry(entry.id, actor="bob", threshold=None).threshold is None  # back to the kind's default
    assert store.audit(entry.id)[0].detail["changes"] == {"threshold": [0.8, None]}


def test_a_tuning_that_changes_nothing_or_is_invalid_writes_nothing(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a", threshold=0.8).entry
    revision, audit_rows = store.revision(), len(store.audit())

    assert store.update_entry(entry.id, actor="b", label="fire", threshold=0.8) == store.get_entry(entry.id)
    with pytest.raises(InvalidEntryError, match="threshold"):
        store.update_entry(entry.id, actor="b", label="renamed", threshold=1.5)
    with pytest.raises(InvalidEntryError, match="camera"):
        store.update_entry(entry.id, actor="b", cameras=["a/b"])
    with pytest.raises(EntryNotFoundError):
        store.update_entry("0" * 32, actor="b", label="x")

    assert (store.revision(), len(store.audit())) == (revision, audit_rows)
    assert store.get_entry(entry.id).label == "fire"


def test_the_index_follows_a_tuned_threshold_and_camera_scope(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a", threshold=0.99).entry
    index = WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=0.75, dim=DIM)
    query = unit(1, 1)[None, :]  # near the reference, but not 0.99 near
    assert index.search(query) == [[]]

    store.update_entry(entry.id, actor="a", threshold=0.5, cameras=["lobby"])
    index.sync()

    assert [m.entry_id for m in index.search(query, camera="lobby")[0]] == [entry.id]
    assert index.search(query, camera="garage") == [[]]


def _random_units(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("insert_parameters", "insert_bytes"),
    [
        (batched_sql.INSERT_PARAMETERS, batched_sql.INSERT_BYTES),
        (90, batched_sql.INSERT_BYTES),  # 10 image rows a statement
        (batched_sql.INSERT_PARAMETERS, 1),  # every row over the byte budget: one a statement
    ],
)
def test_a_bulk_enrollment_stores_every_image_with_its_embedding_and_ids_in_order(
    store: WatchlistStore,
    plain_sql: PlainSql,
    monkeypatch: pytest.MonkeyPatch,
    insert_parameters: int,
    insert_bytes: int,
) -> None:
    monkeypatch.setattr(batched_sql, "INSERT_PARAMETERS", insert_parameters)
    monkeypatch.setattr(batched_sql, "INSERT_BYTES", insert_bytes)
    vectors = _random_units(1_203, seed=1)  # more than two IN-list chunks (500 each)
    images = [new_image(v, f"bulk {i}") for i, v in enumerate(vectors)]

    result = store.create_entry("anomaly", "crowd", images, actor="t")

    ids = [i.id for i in result.added]
    assert [i.source for i in result.added] == [i.source for i in images] and ids == sorted(set(ids))
    assert [i.sha256 for i in store.entry_images(result.entry.id)] == [i.sha256 for i in images]
    stored = store.embeddings("anomaly", TEST_MODEL)
    assert stored.image_ids.tolist() == ids
    np.testing.assert_array_equal(stored.vectors, vectors)
    assert _counts(plain_sql) == {"entries": 1, "images": 1_203, "embeddings": 1_203, "audit_log": 1}

    new_model = "test-model@000000000002"
    reembedded = [NewEmbedding(i, False, v) for i, v in zip(ids, vectors[::-1], strict=True)]
    skipped = [reembedded[0], NewEmbedding(10**9, False, vectors[0])]  # a repeat, and an image no longer stored
    assert store.add_embeddings(new_model, reembedded + skipped, actor="t") == 1_203
    np.testing.assert_array_equal(store.embeddings("anomaly", new_model).vectors, vectors[::-1])


def test_duplicates_in_the_middle_of_a_bulk_enrollment_are_reported_and_the_rest_stored(
    store: WatchlistStore, plain_sql: PlainSql
) -> None:
    kept = store.create_entry("anomaly", "fire", [new_image(unit(1), "kept")], actor="t")
    images = [new_image(v, f"bulk {i}") for i, v in enumerate(_random_units(600, seed=2))]
    images[300] = new_image(unit(1), "kept")  # stored under another entry
    images[450] = images[7]  # repeated in the same batch

    result = store.create_entry("anomaly", "crowd", images, actor="t")

    first_copy = result.added[7]
    assert [(d.source, d.entry_id, d.image_id) for d in result.duplicates] == [
        ("kept.png", kept.entry.id, kept.added[0].id),
        ("bulk 7.png", result.entry.id, first_copy.id),
    ]
    assert [i.source for i in result.added] == [i.source for n, i in enumerate(images) if n not in (300, 450)]
    assert _counts(plain_sql) == {"entries": 2, "images": 599, "embeddings": 599, "audit_log": 2}


def test_a_bad_embedding_in_the_middle_of_a_bulk_enrollment_leaves_nothing_written(
    store: WatchlistStore, plain_sql: PlainSql
) -> None:
    images = [new_image(v, f"bulk {i}") for i, v in enumerate(_random_units(600, seed=3))]
    images[400] = new_image(unit(1, dim=DIM + 1), "wrong")
    revision = store.revision()

    with pytest.raises(EmbeddingMismatchError, match=r"wrong\.png: embedding has 9 dimensions"):
        store.create_entry("anomaly", "crowd", images, actor="t")

    assert _counts(plain_sql) == {"entries": 0, "images": 0, "embeddings": 0, "audit_log": 0}
    assert store.revision() == revision


def test_a_bulk_of_negatives_is_stored_in_order_and_repeats_are_reported_against_the_first_copy(
    store: WatchlistStore,
) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "reference")], actor="t").entry
    negatives = [new_image(v, f"not fire {i}") for i, v in enumerate(_random_units(700, seed=4))]
    earlier = store.add_negatives(entry.id, negatives[:1], actor="t").added[0]
    negatives.append(negatives[0])  # stored by the earlier call
    negatives.append(negatives[600])  # repeated in this batch

    result = store.add_negatives(entry.id, negatives[1:], actor="t")

    assert [n.source for n in result.added] == [n.source for n in negatives[1:700]]
    assert all(n.negative for n in result.added) and [n.id for n in result.added] == sorted(n.id for n in result.added)
    assert [(d.source, d.image_id) for d in result.duplicates] == [
        ("not fire 0.png", earlier.id),
        ("not fire 600.png", result.added[599].id),
    ]
    assert len(store.embeddings("anomaly", TEST_MODEL).negative_entry_ids) == 700


def test_removing_one_image_or_negative_is_audited_and_the_index_follows(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "a"), new_image(unit(0, 1), "b")], actor="a")
    entry_id = entry.entry.id
    store.add_negatives(entry_id, [new_image(unit(0, 0, 1), "n")], actor="a")
    index = WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=0.9, dim=DIM)
    second, negative = store.entry_images(entry_id)[1], store.entry_negatives(entry_id)[0]
    assert [m.entry_id for m in index.search(unit(0, 1)[None, :])[0]] == [entry_id]

    removed = store.remove_image(entry_id, second.id, actor="bob")
    store.remove_image(entry_id, negative.id, actor="bob", negative=True)
    index.sync()

    assert removed.sha256 == second.sha256
    assert index.search(unit(0, 1)[None, :]) == [[]]  # its vector left the index
    assert [i.source for i in store.entry_images(entry_id)] == ["a.png"] and store.entry_negatives(entry_id) == []
    assert store.get_entry(entry_id).image_count == 1
    audit = store.audit(entry_id)
    assert [(a.action, a.actor) for a in audit[:2]] == [("negatives.removed", "bob"), ("images.removed", "bob")]
    assert audit[1].detail == {"image_id": second.id, "sha256": second.sha256, "source": "b.png"}


@pytest.mark.parametrize(
    ("target", "negative", "error", "code"),
    [
        ("only", False, LastImageError, "last_image"),  # an entry without references could never match
        ("other", False, EntryNotFoundError, "image_not_found"),  # another entry's image is not this entry's
        ("only", True, EntryNotFoundError, "image_not_found"),  # a reference image is not a negative
        ("missing", False, EntryNotFoundError, "image_not_found"),
    ],
)
def test_removing_an_image_that_cannot_go_is_refused_and_writes_nothing(
    store: WatchlistStore, target: str, negative: bool, error: type[Exception], code: str
) -> None:
    entry_id = store.create_entry("anomaly", "fire", [new_image(unit(1), "a")], actor="a").entry.id
    other_id = store.create_entry("anomaly", "smoke", [new_image(unit(0, 1), "b")], actor="a").entry.id
    ids = {"only": store.entry_images(entry_id)[0].id, "other": store.entry_images(other_id)[0].id, "missing": 10**6}
    revision = store.revision()

    with pytest.raises(error) as raised:
        store.remove_image(entry_id, ids[target], actor="bob", negative=negative)

    assert raised.value.code == code  # type: ignore[attr-defined]
    assert store.revision() == revision and len(store.entry_images(entry_id)) == 1
