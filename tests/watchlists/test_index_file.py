"""A saved watchlist index: loaded when fresh, caught up when stale, rebuilt (with a warning) when it cannot be
trusted; saved atomically, spaced out, and never in the way of matching when the folder is unusable."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.watchlists.counting_store import CountingStore
from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists.index import WatchlistIndex
from watchlists.index_file import IndexFileHeader, index_path, load_index
from watchlists.store import WatchlistStore

QUERY = unit(1)[None]
FIRE, SMOKE, FOG = unit(1), unit(1, 1), unit(2, 1)  # score 1.0, 0.707 and 0.894 against QUERY


def _index(store: WatchlistStore, index_dir: Path) -> WatchlistIndex:
    return WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=0.6, dim=DIM, index_dir=index_dir)


def _labels(index: WatchlistIndex) -> list[str]:
    return [m.label for m in index.search(QUERY)[0]]


def _saved_revision(store: WatchlistStore, index_dir: Path) -> int:
    expected = IndexFileHeader("anomaly", TEST_MODEL, store.identity(), store.revision(), DIM, 0)
    header, _ = load_index(index_path(index_dir, "anomaly", TEST_MODEL), expected)
    return header.revision


def _enroll_fire_and_smoke(store: WatchlistStore) -> str:
    store.create_entry("anomaly", "fire", [new_image(FIRE, "fire")], actor="t")
    return store.create_entry(
        "anomaly", "smoke", [new_image(SMOKE, "smoke1"), new_image(-SMOKE, "s2")], actor="t"
    ).entry.id


def test_a_fresh_saved_index_is_loaded_not_rebuilt(watchlist_database: str, tmp_path: Path) -> None:
    with WatchlistStore(watchlist_database) as store:
        _enroll_fire_and_smoke(store)
        before = _labels(_index(store, tmp_path))

    with CountingStore(watchlist_database) as restarted:
        index = _index(restarted, tmp_path)

        assert restarted.known == [3] and restarted.fetched == [0] and restarted.full_reads == 0
        assert _labels(index) == before == ["fire", "smoke"] and index.image_count == 3
    (saved,) = tmp_path.glob("*.faiss")
    assert saved.stat().st_mode & 0o777 == 0o600  # vectors of enrolled people: readable by their owner only


def test_a_stale_file_is_caught_up_by_reading_only_what_changed(watchlist_database: str, tmp_path: Path) -> None:
    with WatchlistStore(watchlist_database) as store:
        smoke = _enroll_fire_and_smoke(store)
        _index(store, tmp_path)
        store.remove_entry(smoke, actor="t")  # while no index runs
        store.create_entry("anomaly", "fog", [new_image(FOG, "fog")], actor="t")

    with CountingStore(watchlist_database) as restarted:
        index = _index(restarted, tmp_path)

        assert restarted.known == [3] and restarted.fetched == [1] and restarted.full_reads == 0
        assert _labels(index) == ["fire", "fog"] and index.image_count == 2
        assert _saved_revision(restarted, tmp_path) == restarted.revision()  # the caught-up index was saved


def _flip_a_byte_near_the_end(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_flip_a_byte_near_the_end, "corrupt"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated|corrupt"),
        (lambda p: p.write_bytes(b"\0" * 64), "not a saved watchlist index"),
        (lambda p: p.write_bytes(b""), "not a saved watchlist index"),
        (lambda p: p.write_bytes(p.read_bytes()[:12] + b"{garbage" + p.read_bytes()[20:]), "unreadable header"),
    ],
    ids=["flipped byte", "truncated", "zeros", "empty", "bad header"],
)
def test_a_damaged_file_is_rebuilt_from_the_store_with_a_warning(
    watchlist_database: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], object],
    reason: str,
) -> None:
    with WatchlistStore(watchlist_database) as store:
        _enroll_fire_and_smoke(store)
        _index(store, tmp_path)
    damage(index_path(tmp_path, "anomaly", TEST_MODEL))

    with CountingStore(watchlist_database) as restarted, caplog.at_level(logging.WARNING, "watchlists.index"):
        index = _index(restarted, tmp_path)

        assert restarted.fetched == [3] and _labels(index) == ["fire", "smoke"]
        assert any(r.levelno == logging.WARNING for r in caplog.records)
        assert re.search(reason, caplog.text)
        assert _saved_revision(restarted, tmp_path) == restarted.revision()  # replaced by a good file


def test_a_file_saved_from_another_watchlist_is_not_trusted(
    new_watchlist_database: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WatchlistStore(new_watchlist_database()) as other:
        other.create_entry("anomaly", "other fire", [new_image(FIRE, "fire")], actor="t")  # same image id, 1
        _index(other, tmp_path)

    with WatchlistStore(new_watchlist_database()) as store, caplog.at_level(logging.WARNING, "watchlists.index"):
        store.create_entry("anomaly", "fog", [new_image(FOG, "fog")], actor="t")
        store.create_entry("anomaly", "x", [new_image(unit(0, 0, 1), "x")], actor="t")

        assert _labels(_index(store, tmp_path)) == ["fog"]
        assert "another watchlist" in caplog.text


@pytest.mark.parametrize(
    ("writes_after_restore", "warning", "expected"),
    [
        ([], "ahead of the store", ["fire"]),
        (
            [("fog", FOG), ("a", unit(0, 0, 0, 1)), ("b", unit(0, 0, 0, 0, 1))],
            "disagrees with the store",
            ["fire", "fog"],
        ),
    ],
    ids=["restored", "restored then written past the file's revision, reusing its image ids"],
)
def test_a_file_of_a_restored_database_is_rebuilt(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    writes_after_restore: list[tuple[str, object]],
    warning: str,
    expected: list[str],
) -> None:
    database, backup, index_dir = tmp_path / "watchlist.db", tmp_path / "backup.db", tmp_path / "index"
    with WatchlistStore(database) as store:
        store.create_entry("anomaly", "fire", [new_image(FIRE, "fire")], actor="t")
    shutil.copy(database, backup)
    with WatchlistStore(database) as store:
        store.create_entry("anomaly", "smoke", [new_image(SMOKE, "smoke")], actor="t")
        store.create_entry("anomaly", "y", [new_image(unit(0, 0, 1), "y")], actor="t")
        _index(store, index_dir)  # saved holding images 1, 2, 3
    shutil.copy(backup, database)  # the backup comes back: image 1 only, an older revision, the same identity

    with WatchlistStore(database) as store, caplog.at_level(logging.WARNING, "watchlists.index"):
        for label, vector in writes_after_restore:  # image ids 2, 3, 4 again, other vectors
            store.create_entry("anomaly", label, [new_image(vector, label)], actor="t")  # type: ignore[arg-type]
        index = _index(store, index_dir)

        assert warning in caplog.text
        assert _labels(index) == expected


def test_saves_are_spaced_out_and_save_forces_one(store: WatchlistStore, tmp_path: Path) -> None:
    index = _index(store, tmp_path)  # nothing to save yet: an empty index needs no file
    store.create_entry("anomaly", "fire", [new_image(FIRE, "fire")], actor="t")
    index.sync()  # the first change is saved at once
    first = store.revision()
    store.create_entry("anomaly", "fog", [new_image(FOG, "fog")], actor="t")
    index.sync()  # within SAVE_EVERY_S of the last save: not yet

    assert _saved_revision(store, tmp_path) == first
    index.save()
    assert _saved_revision(store, tmp_path) == store.revision()


def test_an_unusable_index_folder_is_logged_and_matching_goes_on(
    store: WatchlistStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "index"
    not_a_folder.write_text("a file where the folder should be")
    store.create_entry("anomaly", "fire", [new_image(FIRE, "fire")], actor="t")

    with caplog.at_level(logging.WARNING, "watchlists.index"):
        index = _index(store, not_a_folder)

    assert _labels(index) == ["fire"] and "cannot save" in caplog.text


def test_each_kind_and_model_version_has_its_own_file_in_the_folder(tmp_path: Path) -> None:
    paths = {
        index_path(tmp_path, kind, version) for kind in ("face", "anomaly") for version in ("m@1", "m_1", "m/../1")
    }

    assert len(paths) == 6 and {p.parent for p in paths} == {tmp_path}
