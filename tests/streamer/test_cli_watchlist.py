"""``vigil watchlist``: exit codes, nothing written on bad input, a full add / list / show / remove cycle, face
entries, negatives, export / import between nodes, re-embedding and matching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.scene import SceneEmbedder
from streamer.devservices.mosquitto import free_port
from streamer.devservices.postgres import PostgresServer
from tests.fixtures.cli import Vigil
from tests.watchlists.samples import write_reference_files
from watchlists.store import WatchlistStore

DATABASE = Path("data/watchlist.db")  # relative to the test's working folder, as in the default config
SECRET = "Pa55-Secret"  # a database password that must never be printed


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, reference_images: dict[str, np.ndarray]) -> dict[str, Path]:
    return write_reference_files(tmp_path_factory.mktemp("photos"), reference_images)


@pytest.fixture
def vigil(run_vigil: Vigil, model_cache_dir: Path) -> Vigil:
    """Run ``vigil`` in-process, as the console script does, in an empty folder holding a ``vigil.yaml``."""
    Path("vigil.yaml").write_text(
        f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n"
        f"watchlist: {{database: {DATABASE}}}\n"
    )
    return run_vigil


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "anomaly", "--label", "x", "{astronaut}", "{text}", "{missing}"], 1, "2 of 5 files refused"),
        (["--kind", "anomaly", "--label", "x", "--threshold", "1.5", "{coffee}"], 2, "threshold"),
        (["--kind", "anomaly", "--label", " ", "{coffee}"], 2, "label"),
        (["--kind", "anomaly", "--label", "x", "--camera", "a/b", "{coffee}"], 2, "camera"),
        (
            ["--kind", "anomaly", "--label", "a\nb", "{coffee}"],
            2,
            "label must not contain control characters (found '\\n' at position 1)",
        ),
        (["--kind", "fire", "--label", "x", "{coffee}"], 2, "--kind"),
        (["--kind", "anomaly", "--label", "x"], 2, "Missing argument"),
        (
            ["-c", "{bad_config}", "--kind", "anomaly", "--label", "x", "{coffee}"],
            2,
            "watchlist.databse: unknown field",
        ),
        (
            ["-c", "{postgres_config}", "--kind", "anomaly", "--label", "x", "{coffee}"],
            1,
            "cannot connect to watchlist database postgresql://vigil@127.0.0.1:",
        ),
        (
            ["-c", "{malformed_config}", "--kind", "anomaly", "--label", "x", "{coffee}"],
            2,
            "watchlist.database: not a valid postgresql:// URL",
        ),
        (
            ["-c", "{mysql_config}", "--kind", "anomaly", "--label", "x", "{coffee}"],
            2,
            "watchlist.database: mysql:// is not supported",
        ),
    ],
    ids=[
        "bad images",
        "threshold",
        "empty label",
        "camera name",
        "control character in label",
        "unknown kind",
        "no images",
        "config typo",
        "postgresql server down",
        "malformed postgresql url",
        "another engine",
    ],
)
def test_refused_additions_exit_non_zero_with_the_reason_and_write_nothing(
    vigil: Vigil, photos: dict[str, Path], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    names = {name: str(path) for name, path in photos.items()}
    names["text"], names["missing"] = str(tmp_path / "text.jpg"), str(tmp_path / "missing.png")
    Path(names["text"]).write_text("not an image")
    names["bad_config"], names["postgres_config"] = str(tmp_path / "bad.yaml"), str(tmp_path / "pg.yaml")
    Path(names["bad_config"]).write_text("watchlist: {databse: other.db}\n")
    configs = {
        "postgres_config": f"postgresql://vigil:{SECRET}@127.0.0.1:{free_port()}/vigil",
        "malformed_config": f"postgresql://vigil:{SECRET} with spaces@127.0.0.1/vigil",
        "mysql_config": f"mysql://vigil:{SECRET}@127.0.0.1/vigil",
    }
    for name, url in configs.items():
        names[name] = str(tmp_path / f"{name}.yaml")
        Path(names[name]).write_text(f"watchlist: {{database: '{url}'}}\n")

    result = vigil("watchlist", "add", *[a.format(**names) for a in args])

    assert (result.code, message in result.err) == (code, True), result.err
    assert not DATABASE.exists() and SECRET not in result.err + result.out


def test_bad_images_are_each_named_with_their_reason(vigil: Vigil, photos: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not an image")

    result = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "x", str(photos["coffee"]), "notes.jpg", "gone.png"
    )

    assert result.code == 1
    assert "notes.jpg: not a JPEG, PNG, WebP or BMP image" in result.err and "unsupported_image_type" in result.err
    assert "gone.png: file not found [unreadable_file]" in result.err


def test_add_list_show_and_remove_an_entry(
    vigil: Vigil, photos: dict[str, Path], pooled_scene_embedder: SceneEmbedder
) -> None:
    added = vigil(
        "watchlist",
        "add",
        "-c",
        "vigil.yaml",
        "--kind",
        "anomaly",
        "--label",
        "astronaut",
        "--camera",
        "lobby",
        "--threshold",
        "0.8",
        "--actor",
        "alice",
        str(photos["astronaut"]),
        "--json",
    )
    assert added.code == 0, added.err
    report = json.loads(added.out)
    entry_id = report["entry"]["id"]
    assert len(report["added"]) == 3 and report["model_version"] == pooled_scene_embedder.version

    listed = json.loads(vigil("watchlist", "list", "--json").out)
    assert [(e["id"], e["label"], e["threshold"], e["cameras"], e["image_count"]) for e in listed] == [
        (entry_id, "astronaut", 0.8, ["lobby"], 3)
    ]

    shown = vigil("watchlist", "show", entry_id[:8], "--json")
    details = json.loads(shown.out)
    assert shown.code == 0 and len(details["images"]) == 3
    assert [(a["action"], a["actor"]) for a in details["audit"]] == [("entry.created", "alice")]
    assert "astronaut" in vigil("watchlist", "show", entry_id).out

    removed = vigil("watchlist", "remove", entry_id, "--actor", "bob")
    assert removed.code == 0 and f"removed {entry_id}" in removed.out
    assert vigil("watchlist", "show", entry_id).code == 1
    assert json.loads(vigil("watchlist", "list", "--json").out) == []


def test_the_watchlist_commands_work_on_a_postgresql_database_shared_with_other_nodes(
    vigil: Vigil,
    photos: dict[str, Path],
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIL_WATCHLIST__DATABASE", postgres_url)

    added = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]), "--json")
    assert added.code == 0, added.err
    entry_id = json.loads(added.out)["entry"]["id"]
    with WatchlistStore(postgres_url) as other_node:
        assert [e.id for e in other_node.list_entries()] == [entry_id]

    shown = vigil("watchlist", "show", entry_id[:8], "--json")
    assert shown.code == 0 and [a["action"] for a in json.loads(shown.out)["audit"]] == ["entry.created"]
    again = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee 2", str(photos["coffee"]))
    assert again.code == 1 and f"already in entry {entry_id}" in again.err
    listed = vigil("watchlist", "list", "--json")
    assert listed.code == 0 and [e["id"] for e in json.loads(listed.out)] == [entry_id]
    assert vigil("watchlist", "remove", entry_id).code == 0
    assert vigil("watchlist", "show", entry_id).code == 1
    assert not DATABASE.exists()
    printed = "".join(r.out + r.err for r in (added, shown, again))
    assert postgres_server.password not in printed


def test_update_tunes_only_the_given_fields_and_refuses_bad_values(vigil: Vigil, photos: dict[str, Path]) -> None:
    added = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "coffee", "--threshold", "0.8", str(photos["coffee"])
    )
    entry_id = added.out.split()[1]

    tuned = vigil(
        "watchlist", "update", entry_id[:8], "--threshold", "0.7", "--camera", "bay", "--disable", "--actor", "carol"
    )
    assert tuned.code == 0 and f"updated {entry_id} (coffee)" in tuned.out, tuned.err
    entry = json.loads(vigil("watchlist", "list", "--json").out)[0]
    assert (entry["label"], entry["threshold"], entry["cameras"], entry["enabled"]) == ("coffee", 0.7, ["bay"], False)
    audit = json.loads(vigil("watchlist", "show", entry_id, "--json").out)["audit"]
    assert (audit[0]["action"], audit[0]["actor"]) == ("entry.updated", "carol")
    history = vigil("watchlist", "show", entry_id).out  # the old and new values, as the web page shows them
    assert "carol  entry.updated: cameras all → bay; enabled yes → no; threshold 0.8 → 0.7" in history

    back = vigil("watchlist", "update", entry_id, "--default-threshold", "--all-cameras", "--enable", "--json")
    assert json.loads(back.out)["updated"]["cameras"] == [] and json.loads(back.out)["changed"] is True
    assert vigil("watchlist", "update", entry_id, "--enable").out.strip().endswith("nothing to change")

    for bad in (["--threshold", "1.5"], ["--label", " "], ["--threshold", "0.5", "--default-threshold"]):
        refused = vigil("watchlist", "update", entry_id, *bad)
        assert refused.code == 2, (bad, refused.out)
    assert vigil("watchlist", "update", "f" * 32, "--label", "x").code == 1
    assert len(json.loads(vigil("watchlist", "show", entry_id, "--json").out)["audit"]) == 3


def test_adding_only_images_already_stored_fails_and_names_their_entry(vigil: Vigil, photos: dict[str, Path]) -> None:
    first = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    entry_id = first.out.split()[1]

    again = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee 2", str(photos["coffee"]))

    assert first.code == 0 and again.code == 1
    assert f"already in entry {entry_id}" in again.err
    assert len(json.loads(vigil("watchlist", "list", "--json").out)) == 1


def test_listing_without_a_database_shows_nothing_and_creates_nothing(vigil: Vigil) -> None:
    result = vigil("watchlist", "list", "--json")

    assert (result.code, json.loads(result.out)) == (0, [])
    assert not DATABASE.exists()
    assert vigil("watchlist", "show", "abc").code == 1


def test_the_console_script_turns_errors_into_exit_codes(tmp_path: Path, photos: dict[str, Path]) -> None:
    script = Path(sys.executable).parent / "vigil"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    (tmp_path / "bad.yaml").write_text("watchlist: {top_k: 0}\n")

    (tmp_path / "notes.jpg").write_text("not an image")
    refused = subprocess.run(
        [script, "watchlist", "add", "--kind", "anomaly", "--label", "x", "notes.jpg"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    config = subprocess.run(
        [script, "watchlist", "list", "-c", "bad.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (refused.returncode, config.returncode) == (1, 2)
    assert "unsupported_image_type" in refused.stderr and "watchlist.top_k" in config.stderr


def test_face_entries_are_refused_up_front_when_the_build_has_no_face_pipeline(
    vigil: Vigil, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "engines.faces", None)  # what an install without engines.faces looks like

    result = vigil("watchlist", "add", "--kind", "face", "--label", "jane", str(photos["astronaut"]))

    assert result.code == 1 and "face pipeline" in result.err
    assert not DATABASE.exists()


def test_a_face_photo_without_a_face_is_refused_by_the_face_pipeline_and_nothing_is_stored(
    vigil: Vigil, photos: dict[str, Path]
) -> None:
    result = vigil("watchlist", "add", "--kind", "face", "--label", "jane", str(photos["coffee"]))

    assert result.code == 1 and "no_face_found" in result.err
    assert json.loads(vigil("watchlist", "list", "--json").out) == []


def _add(vigil: Vigil, *args: str) -> str:
    result = vigil("watchlist", "add", "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)["entry"]["id"]


def test_a_negative_example_stops_a_look_alike_from_matching(vigil: Vigil, photos: dict[str, Path]) -> None:
    entry_id = _add(vigil, "--kind", "anomaly", "--label", "astronaut", "--threshold", "0.5", str(photos["astronaut"]))
    before = json.loads(vigil("watchlist", "match", str(photos["coffee"]), "--json").out)

    added = vigil("watchlist", "add-negative", entry_id[:6], str(photos["coffee"]), "--actor", "alice")
    after = json.loads(vigil("watchlist", "match", str(photos["coffee"]), "--json").out)
    shown = json.loads(vigil("watchlist", "show", entry_id, "--json").out)

    assert [m["label"] for m in before["matches"]] == ["astronaut"]
    assert added.code == 0 and f"negatives added to {entry_id}" in added.out, added.err
    assert after["matches"] == []
    assert [n["source"] for n in shown["negatives"]] == [str(photos["coffee"])] and shown["negatives"][0]["negative"]
    assert shown["audit"][0]["action"] == "negatives.added"


@pytest.mark.parametrize(
    ("photo", "kind", "expected"),
    [("astronaut_file", "anomaly", ["astronaut"]), ("rocket", "anomaly", []), ("coffee", "anomaly", ["coffee"])],
)
def test_match_lists_the_entries_an_image_matches_with_scores(
    vigil: Vigil, photos: dict[str, Path], photo: str, kind: str, expected: list[str]
) -> None:
    _add(vigil, "--kind", "anomaly", "--label", "astronaut", str(photos["astronaut"]))
    _add(vigil, "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    path = photos["astronaut"] / "head.jpg" if photo == "astronaut_file" else photos[photo]

    result = vigil("watchlist", "match", str(path), "--kind", kind, "--top-k", "3", "--json")
    table = vigil("watchlist", "match", str(path), "--kind", kind)

    found = json.loads(result.out)
    assert [m["label"] for m in found["matches"]] == expected
    assert all(m["score"] >= m["threshold"] for m in found["matches"])
    assert all(label in table.out for label in expected) and table.code == 0


@pytest.mark.parametrize(("photo", "kind"), [("astronaut_file", "face"), ("coffee", "anomaly"), ("rocket", "anomaly")])
def test_match_without_a_kind_searches_faces_when_a_face_is_found_else_anomaly(
    vigil: Vigil, photos: dict[str, Path], photo: str, kind: str
) -> None:
    _add(vigil, "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    path = photos["astronaut"] / "head.jpg" if photo == "astronaut_file" else photos[photo]

    result = vigil("watchlist", "match", str(path), "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["kind"] == kind


def test_match_refuses_a_file_that_is_not_an_image(vigil: Vigil, tmp_path: Path, photos: dict[str, Path]) -> None:
    _add(vigil, "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    (tmp_path / "notes.png").write_text("hello")

    result = vigil("watchlist", "match", "notes.png")

    assert result.code == 1 and "not a JPEG, PNG" in result.err


def test_a_watchlist_exported_on_one_node_imports_on_another(
    vigil: Vigil, photos: dict[str, Path], tmp_path: Path
) -> None:
    entry_id = _add(vigil, "--kind", "anomaly", "--label", "astronaut", "--camera", "lobby", str(photos["astronaut"]))
    vigil("watchlist", "add-negative", entry_id, str(photos["coffee"]))
    other = tmp_path / "other.yaml"
    other.write_text(Path("vigil.yaml").read_text().replace(str(DATABASE), "node-b/watchlist.db"))

    exported = vigil("watchlist", "export", "out/watchlist.zip")
    imported = vigil("watchlist", "import", "out/watchlist.zip", "-c", str(other), "--json")
    again = vigil("watchlist", "import", "out/watchlist.zip", "-c", str(other))

    assert exported.code == 0 and "exported 1 entries (3 images, 1 negatives)" in exported.out, exported.err
    report = json.loads(imported.out)
    assert [(e["entry_id"], e["status"], e["added"], e["negatives_added"]) for e in report["entries"]] == [
        (entry_id, "created", 3, 1)
    ]
    assert again.code == 0 and "1 unchanged" in again.out
    shown = json.loads(vigil("watchlist", "show", entry_id, "-c", str(other), "--json").out)
    assert shown["entry"]["cameras"] == ["lobby"] and len(shown["negatives"]) == 1


def test_importing_a_file_that_is_not_an_archive_fails_and_imports_nothing(vigil: Vigil, tmp_path: Path) -> None:
    (tmp_path / "fake.zip").write_text("not a zip")

    result = vigil("watchlist", "import", "fake.zip")
    missing = vigil("watchlist", "import", "absent.zip")

    assert result.code == 1 and "not a zip file" in result.err
    assert missing.code == 2 and "file not found" in missing.err


def test_reembed_reports_nothing_to_do_when_every_image_has_the_current_models_embedding(
    vigil: Vigil, photos: dict[str, Path], pooled_scene_embedder: SceneEmbedder
) -> None:
    _add(vigil, "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))

    result = vigil("watchlist", "reembed", "--json")

    assert result.code == 0, result.err
    assert [(r["kind"], r["missing"], r["model_version"]) for r in json.loads(result.out)] == [
        ("anomaly", 0, pooled_scene_embedder.version)
    ]


def test_calibrate_reports_genuine_above_impostor_scores_and_saves_json(vigil: Vigil, photos: dict[str, Path]) -> None:
    _add(vigil, "--kind", "anomaly", "--label", "astronaut", str(photos["astronaut"]))
    _add(vigil, "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    _add(vigil, "--kind", "anomaly", "--label", "rocket", str(photos["rocket"]))

    result = vigil("calibrate", "--target-fpr", "0.01", "--output", "report.json")

    assert result.code == 0, result.err
    assert "genuine" in result.out and "suggested threshold" in result.out
    [report] = json.loads(Path("report.json").read_text())
    assert (report["kind"], report["genuine"]["pairs"], report["impostor"]["pairs"]) == (
        "anomaly",
        3,
        7,
    )  # 5 images: 10 pairs, 3 within the astronaut entry
    impostor, genuine = report["impostor"]["percentiles"], report["genuine"]["percentiles"]
    assert impostor["99"] < report["suggested_threshold"] <= genuine["1"]
    assert report["rates"]["suggested"]["impostor"] <= 0.01


def test_remove_image_and_remove_negative_take_out_one_picture_but_never_the_last_reference(
    vigil: Vigil, photos: dict[str, Path]
) -> None:
    entry_id = _add(vigil, "--kind", "anomaly", "--label", "astronaut", "--threshold", "0.5", str(photos["astronaut"]))
    vigil("watchlist", "add-negative", entry_id, str(photos["coffee"]))
    shown = json.loads(vigil("watchlist", "show", entry_id, "--json").out)
    first, *others = [i["id"] for i in shown["images"]]

    negative = vigil("watchlist", "remove-negative", entry_id[:6], str(shown["negatives"][0]["id"]))
    removed = [vigil("watchlist", "remove-image", entry_id, str(image_id), "--json") for image_id in others]
    last = vigil("watchlist", "remove-image", entry_id, str(first))
    missing = vigil("watchlist", "remove-image", entry_id, "999999")

    assert negative.code == 0 and f"removed negative example {shown['negatives'][0]['id']}" in negative.out
    assert [json.loads(r.out)["removed"]["id"] for r in removed] == others
    assert last.code == 1 and "is the last reference image" in last.err and "remove the entry instead" in last.err
    assert missing.code == 1 and "has no image 999999" in missing.err
    after = json.loads(vigil("watchlist", "show", entry_id, "--json").out)
    assert [i["id"] for i in after["images"]] == [first] and after["negatives"] == []
    assert [a["action"] for a in after["audit"][:3]] == ["images.removed", "images.removed", "negatives.removed"]
    matched = json.loads(vigil("watchlist", "match", str(photos["coffee"]), "--json").out)
    assert [m["label"] for m in matched["matches"]] == ["astronaut"]  # the negative no longer vetoes the look-alike
