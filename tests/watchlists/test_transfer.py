"""Export and import: a watchlist round-trips between two stores through one file, re-embedded on arrival, and a
damaged or conflicting archive imports nothing."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from engines.scene import SceneEmbedder
from watchlists.archive import MANIFEST
from watchlists.embedders import KindEmbedders
from watchlists.enroll import Enroller
from watchlists.errors import ArchiveError, FacesNotAvailableError, ImagesRejectedError
from watchlists.export import export_watchlist
from watchlists.importer import import_watchlist
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore


@pytest.fixture
def source(
    new_watchlist_database: Callable[[], str], scene_embedder: SceneEmbedder, reference_files: dict[str, Path]
) -> Iterator[WatchlistStore]:
    """Node A's watchlist: a scoped, thresholded astronaut entry with a coffee negative; a disabled chelsea entry."""
    store = WatchlistStore(new_watchlist_database())
    enroller = Enroller(store, scene_embedder, show_progress=False)
    astronaut = enroller.enroll(
        "anomaly", "astronaut", [reference_files["astronaut"]], actor="alice", threshold=0.8, cameras=["lobby"]
    ).entry
    enroller.add_negatives(astronaut.id, [reference_files["coffee"]], actor="alice")
    chelsea = enroller.enroll("anomaly", "chelsea", [reference_files["chelsea"]], actor="alice", notes="cat").entry
    store.update_entry(chelsea.id, enabled=False, actor="alice")
    yield store
    store.close()


@pytest.fixture
def target(new_watchlist_database: Callable[[], str]) -> Iterator[WatchlistStore]:
    """Node B's watchlist, empty (on the same engine as node A's)."""
    store = WatchlistStore(new_watchlist_database())
    yield store
    store.close()


def _contents(store: WatchlistStore) -> list[tuple]:
    """Everything an import must carry over, per entry: fields, image bytes and negative bytes."""
    return [
        (
            (e.id, e.kind, e.label, e.notes, e.threshold, e.cameras, e.enabled),
            [(i.sha256, store.image_bytes(i.id), i.media_type, i.source) for i in store.entry_images(e.id)],
            [(n.sha256, store.image_bytes(n.id, negative=True)) for n in store.entry_negatives(e.id)],
        )
        for e in store.list_entries()
    ]


def _scene(scene_embedder: SceneEmbedder) -> KindEmbedders:
    return KindEmbedders({"anomaly": lambda: scene_embedder})


def test_an_exported_watchlist_imports_whole_into_another_store_and_matches_the_same(
    source: WatchlistStore,
    target: WatchlistStore,
    scene_embedder: SceneEmbedder,
    reference_images: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    summary = export_watchlist(source, tmp_path / "watchlist.zip", node="node-a")
    assert summary.path.stat().st_mode & 0o777 == 0o600  # the photos of wanted people: the owner's only

    report = import_watchlist(target, summary.path, _scene(scene_embedder), actor="bob")

    assert (summary.entries, summary.images, summary.negatives) == (2, 4, 1)
    assert [e.status for e in report.entries] == ["created", "created"]
    assert report.model_versions == {"anomaly": scene_embedder.version}
    assert _contents(target) == _contents(source)
    [astronaut_audit] = target.audit(report.entries[0].entry_id)[-1:]
    assert (astronaut_audit.actor, astronaut_audit.detail["imported_from"]) == ("bob", "watchlist.zip")
    queries = scene_embedder.embed([(reference_images["astronaut"][60:500, 30:490] * 0.7).astype(np.uint8)])
    found = [
        [(m.entry_id, round(m.score, 4)) for m in index.search(queries, camera="lobby")[0]]
        for index in (
            WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=0.75)
            for store in (source, target)
        )
    ]
    assert found[0] == found[1] and len(found[0]) == 1


def test_importing_the_same_archive_again_changes_nothing(
    source: WatchlistStore, target: WatchlistStore, scene_embedder: SceneEmbedder, tmp_path: Path
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path
    import_watchlist(target, archive, _scene(scene_embedder), actor="bob")
    revision, audit = target.revision(), len(target.audit())

    again = import_watchlist(target, archive, _scene(scene_embedder), actor="bob")

    assert [e.status for e in again.entries] == ["unchanged", "unchanged"]
    assert sum(len(e.duplicates) for e in again.entries) == 4
    assert (target.revision(), len(target.audit())) == (revision, audit)


def test_images_already_stored_under_other_entries_are_reported_and_an_entry_of_only_those_is_skipped(
    source: WatchlistStore,
    target: WatchlistStore,
    scene_embedder: SceneEmbedder,
    reference_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path
    enroller = Enroller(target, scene_embedder, show_progress=False)
    local_cat = enroller.enroll("anomaly", "our cat", [reference_files["chelsea"]], actor="carol").entry
    local_head = enroller.enroll("anomaly", "head", [reference_files["astronaut"] / "head.jpg"], actor="carol").entry

    report = import_watchlist(target, archive, _scene(scene_embedder), actor="bob")

    astronaut, chelsea = report.entries
    assert (astronaut.status, len(astronaut.added)) == ("created", 2)
    assert [d.entry_id for d in astronaut.duplicates] == [local_head.id]
    assert chelsea.status == "skipped" and local_cat.id in chelsea.reason
    assert [e.label for e in target.list_entries()] == ["our cat", "head", "astronaut"]


def _rewrite(archive: Path, change: dict[str, bytes | None]) -> None:
    """Replace (or, for ``None``, drop) members of a zip in place: what a damaged copy or a hand edit looks like."""
    with zipfile.ZipFile(archive) as original:
        members: dict[str, bytes | None] = {name: original.read(name) for name in original.namelist()}
    members.update(change)
    with zipfile.ZipFile(archive, "w") as rewritten:
        for name, data in members.items():
            if data is not None:
                rewritten.writestr(name, data)


def _first_image_member(archive: Path) -> str:
    with zipfile.ZipFile(archive) as opened:
        return f"images/{json.loads(opened.read(MANIFEST))['entries'][0]['images'][0]['sha256']}"


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("flipped byte", ImagesRejectedError, "does not match its SHA-256"),
        ("not an image", ImagesRejectedError, "does not match its SHA-256"),
        ("bad manifest", ArchiveError, "entries.0.kind"),
        ("no manifest", ArchiveError, "no manifest.json"),
        ("not a zip", ArchiveError, "not a zip file"),
    ],
)
def test_a_damaged_archive_is_refused_whole_and_nothing_is_imported(
    source: WatchlistStore,
    target: WatchlistStore,
    scene_embedder: SceneEmbedder,
    tmp_path: Path,
    damage: str,
    error: type[Exception],
    message: str,
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path
    member = _first_image_member(archive)
    with zipfile.ZipFile(archive) as opened:
        image, manifest = opened.read(member), json.loads(opened.read(MANIFEST))
    if damage == "flipped byte":
        _rewrite(archive, {member: image[:100] + bytes([image[100] ^ 1]) + image[101:]})
    elif damage == "not an image":
        _rewrite(archive, {member: b"#!/bin/sh\nrm -rf /\n"})
    elif damage == "bad manifest":
        manifest["entries"][0]["kind"] = "person"
        _rewrite(archive, {MANIFEST: json.dumps(manifest).encode()})
    elif damage == "no manifest":
        _rewrite(archive, {MANIFEST: None})
    else:
        archive.write_bytes(b"PK but not really a zip")

    with pytest.raises(error, match=message):
        import_watchlist(target, archive, _scene(scene_embedder), actor="bob")

    assert target.list_entries() == [] and target.audit() == [] and target.revision() == 0


def test_an_image_member_over_the_size_limit_is_refused_without_reading_it_whole(
    source: WatchlistStore, target: WatchlistStore, scene_embedder: SceneEmbedder, tmp_path: Path
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path

    with pytest.raises(ImagesRejectedError, match="image limit"):
        import_watchlist(target, archive, _scene(scene_embedder), actor="bob", max_bytes=10_000)

    assert target.list_entries() == []


def test_an_entry_id_that_exists_here_with_another_kind_refuses_the_import(
    source: WatchlistStore, target: WatchlistStore, scene_embedder: SceneEmbedder, tmp_path: Path
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read(MANIFEST))
    manifest["entries"][1]["kind"] = "face"  # the chelsea entry, as another node might have it
    _rewrite(archive, {MANIFEST: json.dumps(manifest).encode()})
    import_watchlist(target, export_watchlist(source, tmp_path / "same.zip").path, _scene(scene_embedder), actor="b")
    revision = target.revision()

    with pytest.raises(ArchiveError, match="face entry in the archive but anomaly here"):
        import_watchlist(target, archive, _scene(scene_embedder), actor="bob")

    assert target.revision() == revision


def test_face_entries_are_refused_when_this_build_has_no_face_pipeline(
    source: WatchlistStore, target: WatchlistStore, scene_embedder: SceneEmbedder, tmp_path: Path
) -> None:
    archive = export_watchlist(source, tmp_path / "watchlist.zip").path
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read(MANIFEST))
    manifest["entries"][0]["kind"] = "face"
    _rewrite(archive, {MANIFEST: json.dumps(manifest).encode()})

    with pytest.raises(FacesNotAvailableError):
        import_watchlist(target, archive, _scene(scene_embedder), actor="bob")

    assert target.list_entries() == []


def test_exporting_one_kind_leaves_the_others_out(source: WatchlistStore, tmp_path: Path) -> None:
    assert export_watchlist(source, tmp_path / "faces.zip", kind="face").entries == 0
    assert export_watchlist(source, tmp_path / "anomalies.zip", kind="anomaly").entries == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["anomalies.zip", "faces.zip"]
