"""End to end: a real RTSP camera in, real MQTT alerts out, with the real model and a real SQLite watchlist."""

from __future__ import annotations

import time
import urllib.request

import cv2
import jsonschema
import numpy as np
import pytest

from engines.regions import RegionGrid
from streamer.alerts.event import alert_schema
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.devservices.postgres import PostgresServer, postgres_bin_dir
from streamer.pipeline import INDEX_SYNC_EVERY_S
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until
from watchlists.enroll import Enroller
from watchlists.store import WatchlistStore

SIZE = (640, 360)
ENCODING = ClipEncoding(fps=10, gop=10)
LABEL = "Astronaut"


def scene(name: str, zoom: float = 1.0):
    return letterbox(photo(name), SIZE, zoom)


@pytest.fixture
def clips(clip_factory):
    return {
        "with": clip_factory.scenes(
            "astronaut-appears", [(scene("coffee"), 3), (scene("astronaut", 1.05), 5), (scene("chelsea"), 4)], ENCODING
        ),
        "without": clip_factory.scenes(
            "no-astronaut", [(scene("coffee"), 3), (scene("chelsea"), 3), (scene("camera"), 3)], ENCODING
        ),
    }


def is_alert(event: str, camera: str = "lobby"):
    return lambda m: m.topic == f"vigil/alerts/{camera}/anomaly" and m.json()["event"] == event


def test_a_watchlist_image_on_camera_raises_an_open_then_a_close_alert(clips, rtsp_server, run_pipeline, tmp_path):
    server = rtsp_server({"lobby": clips["with"]})
    running = run_pipeline({"lobby": server.url("lobby")}, mqtt={"snapshots": {"enabled": True, "max_px": 320}})
    opened = running.recorder.wait_for(is_alert("open"), timeout=60).json()
    closed = running.recorder.wait_for(is_alert("close"), timeout=60).json()
    running.recorder.wait_for(lambda m: m.topic == "vigil/cameras/lobby/anomaly/snapshot", timeout=10)
    late = Recorder(running.config.mqtt.host, running.config.mqtt.port, "vigil/cameras/+/+/snapshot")
    picture = late.wait_for(lambda m: m.topic == "vigil/cameras/lobby/anomaly/snapshot", timeout=10)
    late.close()
    image = cv2.imdecode(np.frombuffer(picture.payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture.retain and image is not None and max(image.shape[:2]) <= 320  # retained for late subscribers
    assert opened["snapshot_url"] == f"/api/v1/alerts/{opened['alert_id']}/snapshot"
    assert opened["entry"]["label"] == LABEL
    assert opened["alert_id"] == closed["alert_id"]
    assert opened["score"] >= opened["threshold"] == pytest.approx(0.8)
    assert opened["frame_size"] == list(SIZE)
    # The bbox is the region that matched best: the whole frame or one of the grid's windows, on the astronaut.
    x, y, width, height = opened["bbox"]
    assert (x, y, width, height) in RegionGrid.parse(running.config.models.scene_regions).boxes(*SIZE)
    photo_side = round(SIZE[1] * 1.05)  # the square photo letterboxed at zoom 1.05, centred
    photo_left = (SIZE[0] - photo_side) // 2
    assert photo_left <= x + width / 2 <= photo_left + photo_side, "the reported region is not on the astronaut"
    assert (tmp_path / opened["snapshot"]).is_file()
    for payload in running.recorder.alerts():
        jsonschema.validate(payload, alert_schema())


def test_a_clip_without_the_watchlist_image_raises_no_alert(clips, rtsp_server, run_pipeline):
    server = rtsp_server({"lobby": clips["without"]})
    running = run_pipeline({"lobby": server.url("lobby")})
    assert wait_until(lambda: running.sampled("lobby") >= 10, timeout=60), "the camera never delivered 10 keyframes"
    assert running.recorder.alerts() == []


def test_an_unreachable_camera_is_down_while_another_keeps_alerting(clips, rtsp_server, run_pipeline, closed_port):
    server = rtsp_server({"lobby": clips["with"]})
    running = run_pipeline({"lobby": server.url("lobby"), "gate": f"rtsp://127.0.0.1:{closed_port}/cam"})
    running.recorder.wait_for(is_alert("open", "lobby"), timeout=60)
    late = Recorder(running.config.mqtt.host, running.config.mqtt.port, "vigil/cameras/gate/status")
    try:
        gate = late.wait_for(lambda m: m.json()["state"] == "down", timeout=30)
    finally:
        late.close()
    assert gate.retain  # a dashboard subscribing later still sees the camera is down
    assert "refused" in gate.json()["reason"].lower() or gate.json()["reason"] == "connecting"
    assert running.metrics.registry.get_sample_value("vigil_camera_up", {"camera": "gate"}) == 0


def test_metrics_are_served_with_every_name_the_slice_documents(clips, rtsp_server, run_pipeline):
    server = rtsp_server({"lobby": clips["with"]})
    running = run_pipeline({"lobby": server.url("lobby")})
    running.recorder.wait_for(is_alert("open"), timeout=60)
    published = {"kind": "anomaly", "event": "open", "camera": "lobby"}
    assert wait_until(lambda: running.metrics.registry.get_sample_value("vigil_alerts_published_total", published))
    port = running.metrics.serve("127.0.0.1", 0)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        running.metrics.close()
    for name in (
        "vigil_frames_decoded_total",
        "vigil_keyframes_sampled_total",
        "vigil_inference_seconds_bucket",
        "vigil_batch_size_bucket",
        "vigil_search_seconds_bucket",
        "vigil_matches_total",
        "vigil_alerts_published_total",
        "vigil_alert_latency_seconds_bucket",
        "vigil_camera_up",
        "vigil_mqtt_outbox_depth",
        "vigil_watchlist_entries",
        "vigil_build_info",
    ):
        assert f"\n{name}" in text, f"{name} missing from /metrics"
    assert 'vigil_build_info{backend="onnxruntime"' in text


def test_a_watchlist_database_outage_keeps_matching_on_the_last_index_and_catches_up_after(
    clips, rtsp_server, run_pipeline, caplog, tmp_path
):
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries (initdb) not installed: run deploy/bootstrap.sh")
    with PostgresServer() as database:
        url = database.create_database("watchlist")
        server = rtsp_server({"lobby": clips["with"]})
        running = run_pipeline({"lobby": server.url("lobby")}, database=url)
        running.recorder.wait_for(is_alert("open"), timeout=90)

        database.stop()
        stopped, embedded = time.monotonic(), running.batches()

        def warnings() -> list[str]:
            return [r.getMessage() for r in caplog.records if "watchlist not synced" in r.getMessage()]

        assert wait_until(lambda: len(warnings()) >= 2, timeout=60), "the outage was not reported"
        assert wait_until(lambda: running.batches() >= embedded + 5, timeout=60), "inference stopped with the database"
        assert all(database.password not in message for message in warnings())
        # Retried once per sync interval, not on every batch (each try may wait for a connect timeout).
        assert len(warnings()) <= (time.monotonic() - stopped) / INDEX_SYNC_EVERY_S + 2

        database.start()
        rocket = tmp_path / "rocket.png"
        cv2.imwrite(str(rocket), cv2.cvtColor(photo("rocket")[40:400, 100:460], cv2.COLOR_RGB2BGR))
        with WatchlistStore(url) as store:  # another process (an admin's CLI) enrolls while Vigil runs
            Enroller(store, running.pipeline.embedder, show_progress=False).enroll(
                "anomaly", "Rocket", [rocket], actor="test"
            )
        assert wait_until(lambda: running.entries("anomaly") == 2, timeout=30), "the index never caught up"


def test_regions_pooled_from_one_pass_raise_the_alert_with_their_box_and_model(clips, rtsp_server, run_pipeline):
    server = rtsp_server({"lobby": clips["with"]})
    models = {"scene": "mobilenet_v2_pooled", "scene_regions": "3x2+4x3"}
    running = run_pipeline({"lobby": server.url("lobby")}, sections={"models": models})

    opened = running.recorder.wait_for(is_alert("open"), timeout=60).json()

    assert opened["entry"]["label"] == LABEL and opened["model"].startswith("mobilenet_v2_pooled@")
    assert opened["score"] >= opened["threshold"] == pytest.approx(0.8)
    x, y, width, height = opened["bbox"]
    assert (x, y, width, height) in RegionGrid.parse("3x2+4x3").boxes(*SIZE)
    photo_side = round(SIZE[1] * 1.05)
    photo_left = (SIZE[0] - photo_side) // 2
    assert photo_left <= x + width / 2 <= photo_left + photo_side, "the reported region is not on the astronaut"
