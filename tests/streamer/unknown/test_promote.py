"""An admin turns a stranger cluster into a face entry (REST and CLI), after which that person matches as the entry
on real frames, and the others stay strangers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from engines.faces import FacePipeline
from streamer.alerts.event import AlertKind
from streamer.api.app import create_api
from streamer.api.context import ApiContext
from streamer.api.tokens import ApiTokens, create_token
from streamer.face_matcher import FaceMatcher
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from streamer.unknown.clusters import UnknownFaceClusterer
from streamer.unknown.store import UnknownFaceStore
from tests.fixtures.cli import Vigil
from tests.streamer.unknown.scenes import FACE_THRESHOLD, SCALES, frame_of
from watchlists.embedders import KindEmbedders
from watchlists.enroll import Enroller
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore


def sightings_on(
    name: str, photos: dict[str, np.ndarray], store: WatchlistStore, unknown: UnknownFaceStore, faces: FacePipeline
) -> list:
    """What the stream's face matcher reports on a new frame of photo ``name`` (strangers go to ``unknown``)."""
    index = WatchlistIndex.from_store(store, "face", faces.version, default_threshold=FACE_THRESHOLD)
    clusterer = UnknownFaceClusterer(unknown, faces.version, FACE_THRESHOLD)
    matcher = FaceMatcher(faces, index, VigilMetrics(cameras=["lobby"]), unknown=clusterer)
    frame = Keyframe("lobby", frame_of(photos[name], SCALES[name]), datetime.now(UTC), time.monotonic())
    return [(s.kind, s.entry_id, s.label) for s in matcher.match([frame])[0]]


@pytest.fixture
def api(tmp_path: Path, clustered: Path, face_pipeline: FacePipeline) -> Iterator[tuple[TestClient, dict, ApiContext]]:
    tokens_file = tmp_path / "tokens.yaml"
    secrets = {role: create_token(tokens_file, f"{role}-1", role)[1] for role in ("admin", "viewer")}
    headers = {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()}
    with WatchlistStore(tmp_path / "watchlist.db") as store, UnknownFaceStore(clustered) as unknown:
        context = ApiContext(
            store=store,
            embedders=KindEmbedders({"face": lambda: face_pipeline}),
            tokens=ApiTokens(tokens_file),
            default_thresholds={"face": FACE_THRESHOLD, "anomaly": 0.75},
            unknown=unknown,
        )
        with TestClient(create_api(context)) as client:
            yield client, headers, context


def test_a_viewer_lists_clusters_with_their_crops_and_only_an_admin_promotes(api, face_pipeline, face_photos):
    client, headers, context = api
    listed = client.get("/api/v1/unknown", headers=headers["viewer"])
    assert listed.status_code == 200
    assert [(c["id"], c["label"], c["count"], c["cameras"]) for c in listed.json()] == [
        ("unknown-2", "Unknown 2", 2, ["gate"]),
        ("unknown-1", "Unknown 1", 3, ["gate", "lobby"]),
    ]
    crop = client.get(listed.json()[1]["crops"][0]["path"], headers=headers["viewer"])
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    decoded = cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR)
    assert len(face_pipeline.analyse(decoded[:, :, ::-1])) == 1
    refused = client.post(
        "/api/v1/unknown/unknown-1/promote", json={"label": "Grace Hopper"}, headers=headers["viewer"]
    )
    assert refused.status_code == 403 and context.store.list_entries() == []

    promoted = client.post(
        "/api/v1/unknown/unknown-1/promote", json={"label": "Grace Hopper"}, headers=headers["admin"]
    )
    assert promoted.status_code == 201, promoted.text
    body = promoted.json()
    entry = body["enrolled"]["entry"]
    assert (entry["kind"], entry["label"], len(body["enrolled"]["added"])) == ("face", "Grace Hopper", 3)
    assert (body["cluster"]["promoted_entry"], body["cluster"]["promoted_by"]) == (entry["id"], "api:admin-1")
    assert [a.actor for a in context.store.audit(entry["id"])] == ["api:admin-1"]
    assert [c["id"] for c in client.get("/api/v1/unknown", headers=headers["viewer"]).json()] == ["unknown-2"]
    every = client.get("/api/v1/unknown", params={"promoted": True}, headers=headers["viewer"]).json()
    assert [c["id"] for c in every] == ["unknown-2", "unknown-1"]

    seen = sightings_on("hopper", face_photos, context.store, context.unknown, face_pipeline)
    assert seen == [(AlertKind.FACE, entry["id"], "Grace Hopper")]
    assert sightings_on("astronaut", face_photos, context.store, context.unknown, face_pipeline) == [
        (AlertKind.UNKNOWN_FACE, "unknown-2", "Unknown 2")
    ]


def test_an_admin_adds_a_cluster_to_an_existing_entry(api, tmp_path: Path, face_photos):
    client, headers, context = api
    reference = tmp_path / "eileen.png"
    cv2.imwrite(str(reference), cv2.cvtColor(face_photos["astronaut"], cv2.COLOR_RGB2BGR))
    eileen = Enroller(context.store, context.embedders.for_kind("face"), show_progress=False).enroll(
        "face", "Eileen Collins", [reference], actor="test"
    )
    promoted = client.post(
        "/api/v1/unknown/unknown-2/promote", json={"entry_id": eileen.entry.id}, headers=headers["admin"]
    )
    assert promoted.status_code == 201, promoted.text
    assert promoted.json()["cluster"]["promoted_entry"] == eileen.entry.id
    assert len(context.store.entry_images(eileen.entry.id)) == 3
    assert [e.label for e in context.store.list_entries()] == ["Eileen Collins"], "no new entry"


@pytest.mark.parametrize(
    ("method", "path", "role", "status", "code"),
    [
        ("get", "/api/v1/unknown/unknown-9", "viewer", 404, "unknown_not_found"),
        ("get", "/api/v1/unknown/bob", "viewer", 404, "unknown_not_found"),
        ("get", "/api/v1/unknown/unknown-1/crops/999", "viewer", 404, "crop_not_found"),
        ("post", "/api/v1/unknown/unknown-9/promote", "admin", 404, "unknown_not_found"),
        ("get", "/api/v1/unknown", None, 401, "unauthorized"),
    ],
)
def test_requests_for_what_is_not_there_are_refused_with_a_code(api, method, path, role, status, code):
    client, headers, context = api
    answer = getattr(client, method)(path, headers=headers.get(role, {}), **({"json": {}} if method == "post" else {}))
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert context.store.list_entries() == []


@pytest.fixture
def node(tmp_path: Path, clustered: Path, model_cache_dir: Path) -> Path:
    """``vigil.yaml`` of the node whose data folder holds the clusters."""
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"models: {{cache_dir: {model_cache_dir}, threads: 2}}\n"
        "watchlist: {database: data/watchlist.db}\nstorage: {snapshots: data/snapshots}\n"
    )
    return config


def test_the_cli_lists_shows_and_promotes_a_cluster(node: Path, run_vigil: Vigil, face_pipeline, face_photos):
    listed = run_vigil("unknown", "list", "--json")
    assert listed.code == 0, listed.err
    assert [c["id"] for c in json.loads(listed.out)] == ["unknown-2", "unknown-1"]
    shown = json.loads(run_vigil("unknown", "show", "unknown-1", "--json").out)
    assert shown["count"] == 3 and all(Path(f).is_file() for f in shown["crop_files"])

    promoted = run_vigil("unknown", "promote", "unknown-1", "--label", "Grace Hopper", "--actor", "cli:ops", "--json")
    assert promoted.code == 0, promoted.err
    entry = json.loads(promoted.out)["entry"]
    assert (entry["kind"], entry["label"]) == ("face", "Grace Hopper")
    assert json.loads(run_vigil("unknown", "show", "unknown-1", "--json").out)["promoted_entry"] == entry["id"]
    assert [c["id"] for c in json.loads(run_vigil("unknown", "list", "--json").out)] == ["unknown-2"]
    with (
        WatchlistStore(node.parent / "data" / "watchlist.db") as store,
        UnknownFaceStore(node.parent / "data" / "unknown.db") as unknown,
    ):
        assert [a.actor for a in store.audit(entry["id"])] == ["cli:ops"]
        seen = sightings_on("hopper", face_photos, store, unknown, face_pipeline)
    assert seen == [(AlertKind.FACE, entry["id"], "Grace Hopper")]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["promote", "unknown-1"], 2, "--label"),
        (["promote", "unknown-1", "--label", "A", "--entry", "b"], 2, "not both"),
        (["promote", "unknown-9", "--label", "A"], 1, "unknown-9"),
        (["show", "unknown-9"], 1, "unknown-9"),
    ],
)
def test_the_cli_refuses_a_bad_promotion_and_stores_nothing(node: Path, run_vigil: Vigil, args, code, says):
    result = run_vigil("unknown", *args)
    assert (result.code, says in result.err) == (code, True), result.err
    assert not (node.parent / "data" / "watchlist.db").exists()
