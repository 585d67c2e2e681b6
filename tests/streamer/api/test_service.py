"""The API inside the service: ``run_service`` re-embeds a watchlist left by an older model (and says so), serves
the API on the configured port from the pipeline's own store and model, and stops it cleanly; a port in use fails
the start with a clear error; face entries go through the face pipeline."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from engines.faces import FacePipeline
from engines.scene import SceneEmbedder
from streamer.api.app import create_api
from streamer.api.context import ApiContext
from streamer.api.errors import ApiError
from streamer.api.server import ApiServer
from streamer.api.tokens import ApiTokens, create_token
from streamer.config import VigilConfig
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.service import run_service
from tests.fixtures.rtsp import wait_until
from tests.streamer.api.conftest import Api
from tests.watchlists.samples import encode, unit
from watchlists.embedders import KindEmbedders
from watchlists.records import NewImage
from watchlists.store import WatchlistStore


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_service_reembeds_an_old_watchlist_and_serves_the_api_from_the_pipelines_store(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    model_cache_dir: Path,
    photo_bytes: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    coffee = photo_bytes["coffee.jpg"]
    with WatchlistStore(tmp_path / "watchlist.db") as store:  # enrolled by a model this build no longer runs
        old = NewImage(coffee, hashlib.sha256(coffee).hexdigest(), "image/jpeg", 600, 400, "c.jpg", unit(1), "old@1")
        store.create_entry("anomaly", "coffee", [old], actor="t")
    _, secret = create_token(tmp_path / "tokens.yaml", "alice", "admin")
    port = _free_port()
    config = VigilConfig.model_validate(
        {
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
            "models": {"backend": "onnxruntime", "cache_dir": str(model_cache_dir), "threads": 2},
            "watchlist": {"database": str(tmp_path / "watchlist.db")},
            "api": {"bind": "127.0.0.1", "port": port, "tokens_file": str(tmp_path / "tokens.yaml")},
            "metrics": {"enabled": False},
            "storage": {"snapshots": str(tmp_path / "snapshots")},
        }
    )
    stop = threading.Event()
    service = threading.Thread(target=run_service, args=(config, stop), daemon=True)
    headers = {"Authorization": f"Bearer {secret}"}
    caplog.set_level(logging.INFO)
    service.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def healthy() -> bool:
                try:
                    return client.get("/api/v1/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            assert wait_until(healthy, timeout=120)
            matched = client.post("/api/v1/match", headers=headers, files={"image": ("q.jpg", coffee)}).json()
            created = client.post(
                "/api/v1/watchlist",
                headers=headers,
                data={"kind": "anomaly", "label": "cat"},
                files={"images": ("cat.png", photo_bytes["chelsea.png"])},
            )
            cameras = client.get("/api/v1/cameras", headers=headers).json()
    finally:
        stop.set()
        service.join(timeout=60)

    assert not service.is_alive()
    assert "re-embedding 1 anomaly images with model mobilenet_v2_pooled@" in caplog.text
    assert [m["label"] for m in matched["matches"]] == ["coffee"]
    assert created.status_code == 201 and cameras == {"cameras": []}
    with WatchlistStore(tmp_path / "watchlist.db") as store:
        assert [e.label for e in store.list_entries()] == ["coffee", "cat"]


def test_a_port_in_use_fails_the_start_with_a_clear_error(api: Api) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ApiServer(api.client.app, "127.0.0.1", taken.getsockname()[1])

        with pytest.raises(ApiError, match=r"cannot listen on 127\.0\.0\.1") as refused:
            server.start()

    assert refused.value.code == "api_unavailable" and refused.value.exit_code == 1


def test_face_entries_are_enrolled_and_matched_through_the_face_pipeline(
    tmp_path: Path,
    face_pipeline: FacePipeline,
    face_photos: dict[str, np.ndarray],
) -> None:
    _, secret = create_token(tmp_path / "tokens.yaml", "alice", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    photos = {name: encode(image, "JPEG") for name, image in face_photos.items()}
    with WatchlistStore(tmp_path / "watchlist.db") as store:
        context = ApiContext(
            store=store,
            embedders=KindEmbedders({"face": lambda: face_pipeline}),
            tokens=ApiTokens(tmp_path / "tokens.yaml"),
            default_thresholds={"face": 0.9, "anomaly": 0.75},
        )
        with TestClient(create_api(context)) as client:
            no_face = client.post(
                "/api/v1/watchlist",
                headers=headers,
                data={"kind": "face", "label": "grace"},
                files={"images": ("cup.jpg", encode(np.full((300, 300, 3), 128, np.uint8), "JPEG"))},
            )
            created = client.post(
                "/api/v1/watchlist",
                headers=headers,
                data={"kind": "face", "label": "grace"},
                files={"images": ("hopper.jpg", photos["hopper"])},
            )
            matches = {
                name: [
                    m["label"]
                    for m in client.post(
                        "/api/v1/match", headers=headers, data={"kind": "face"}, files={"image": (name, photos[name])}
                    ).json()["matches"]
                ]
                for name in ("hopper", "astronaut")
            }

    assert (no_face.status_code, no_face.json()["error"]["code"]) == (422, "no_face_found")
    assert created.status_code == 201 and created.json()["model_version"] == face_pipeline.version
    assert matches == {"hopper": ["grace"], "astronaut": []}


def test_match_without_a_kind_searches_faces_when_a_face_is_found_else_anomaly(
    tmp_path: Path,
    face_pipeline: FacePipeline,
    scene_embedder: SceneEmbedder,
    face_photos: dict[str, np.ndarray],
    photo_bytes: dict[str, bytes],
) -> None:
    _, secret = create_token(tmp_path / "tokens.yaml", "alice", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    hopper = encode(face_photos["hopper"], "JPEG")
    with WatchlistStore(tmp_path / "watchlist.db") as store:
        context = ApiContext(
            store=store,
            embedders=KindEmbedders({"face": lambda: face_pipeline, "anomaly": lambda: scene_embedder}),
            tokens=ApiTokens(tmp_path / "tokens.yaml"),
            default_thresholds={"face": 0.9, "anomaly": 0.75},
        )
        with TestClient(create_api(context)) as client:
            for kind, label, name, photo in (
                ("face", "grace", "hopper.jpg", hopper),
                ("anomaly", "coffee", "coffee.jpg", photo_bytes["coffee.jpg"]),
            ):
                created = client.post(
                    "/api/v1/watchlist",
                    headers=headers,
                    data={"kind": kind, "label": label},
                    files={"images": (name, photo)},
                )
                assert created.status_code == 201, created.text
            found = {
                name: client.post("/api/v1/match", headers=headers, files={"image": (name, photo)}).json()
                for name, photo in (("hopper.jpg", hopper), ("coffee.jpg", photo_bytes["coffee.jpg"]))
            }
            forced = client.post(
                "/api/v1/match", headers=headers, data={"kind": "anomaly"}, files={"image": ("h.jpg", hopper)}
            ).json()

    assert (found["hopper.jpg"]["kind"], [m["label"] for m in found["hopper.jpg"]["matches"]]) == ("face", ["grace"])
    assert (found["coffee.jpg"]["kind"], [m["label"] for m in found["coffee.jpg"]["matches"]]) == (
        "anomaly",
        ["coffee"],
    )
    assert forced["kind"] == "anomaly"  # a kind given is a kind used
