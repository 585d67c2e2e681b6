"""Reliability against real failures: a 60 s broker outage with a restart of Vigil in the middle, an RTSP server that
crashes 20 times in a row, and one camera flooding keyframes while the others keep being embedded.

These run real parts end to end (GStreamer RTSP server, PyAV, ONNX Runtime, FAISS, SQLite outbox, mosquitto), so
they are slow by nature; the timeouts below are guards against hanging, not speed requirements.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from streamer.alerts.outbox import AlertOutbox
from streamer.config import CameraConfig, VigilConfig
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.pipeline import Pipeline
from streamer.service import build_pipeline, outbox_path
from streamer.sources.camera import CameraWorker
from streamer.sources.status import CameraState
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until
from watchlists.enroll import Enroller

OUTAGE_S = 60.0
CRASHES = 20
SIZE = (640, 360)
FAST_RECONNECT = {"initial_s": 0.1, "max_s": 0.5, "jitter": 0.1, "open_timeout_s": 3.0, "stall_timeout_s": 3.0}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crop of the astronaut photo, enrolled as the watchlist entry (not a copy of any frame the cameras show)."""
    path = tmp_path_factory.mktemp("refs") / "astronaut-crop.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo("astronaut")[20:380, 80:440], cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def alternating_clip(clip_factory) -> Path:
    """One keyframe a second, alternating watchlist photo / other photo: an alert opens and closes every 2 s."""
    match, other = letterbox(photo("astronaut"), SIZE, 1.0), letterbox(photo("coffee"), SIZE, 1.0)
    return clip_factory.scenes("alternating-640", [(match, 1.0), (other, 1.0)] * 5, ClipEncoding(fps=10, gop=10))


def pipeline_config(tmp_path: Path, broker: MosquittoBroker, cameras: dict[str, dict], **sections: dict) -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "node_id": "reliability",
            "cameras": {name: {"reconnect": FAST_RECONNECT, **camera} for name, camera in cameras.items()},
            "models": {"threads": 2},
            "watchlist": {"database": str(tmp_path / "watchlist.db")},
            "mqtt": {"host": broker.host, "port": broker.port, "reconnect_max_s": 2},
            "alerts": {"vote_hits": 1, "vote_window": 1, "close_after_s": 0.5, "cooldown_s": 0},
            "storage": {"snapshots": str(tmp_path / "snapshots")},
            **sections,
        }
    )


@contextmanager
def running_vigil(
    config: VigilConfig, model_cache_dir: Path, reference: Path | None = None, metrics: VigilMetrics | None = None
) -> Iterator[Pipeline]:
    """A pipeline built and started as ``vigil run`` would (``reference`` enrolled first when given), stopped after."""
    config = config.model_copy(update={"models": config.models.model_copy(update={"cache_dir": model_cache_dir})})
    pipeline, store = build_pipeline(config, metrics=metrics or VigilMetrics())
    try:
        if reference is not None:
            Enroller(store, pipeline.embedder, show_progress=False).enroll(
                "anomaly", "Astronaut", [reference], actor="test", threshold=0.72
            )
        pipeline.start()
        yield pipeline
    finally:
        pipeline.stop()
        store.close()


class DurableSubscriber:
    """An operator's client as deployed: a persistent session (clean_session off) at QoS 1, so what the broker
    accepts while the subscriber is away waits for it, even across a broker restart."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self.received: list[tuple[str, str]] = []  # (alert_id, event) in arrival order, duplicates included
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client_id = f"operator-{uuid.uuid4().hex[:8]}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("the operator's client could not subscribe")

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        with self._lock:
            self.received.append((payload["alert_id"], payload["event"]))

    def unique(self) -> list[tuple[str, str]]:
        """What a consumer keeps after de-duplicating on alert_id + event, in order of first arrival."""
        with self._lock:
            return list(dict.fromkeys(self.received))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def produced_alerts(path: Path) -> tuple[list[tuple[str, str]], int]:
    """Every alert the outbox ever held, in the order it was produced, and how many still wait for an ack."""
    outbox = AlertOutbox(path)
    try:
        items = sorted(outbox.history(limit=1_000_000), key=lambda item: item.seq)
        return [(item.payload["alert_id"], item.event) for item in items], outbox.depth()
    finally:
        outbox.close()


@pytest.mark.slow
def test_a_60_s_broker_outage_with_a_vigil_restart_delivers_every_alert_once_and_in_order(
    tmp_path: Path, rtsp_server, alternating_clip: Path, reference: Path, model_cache_dir: Path
):
    server = rtsp_server({"lobby": alternating_clip, "gate": alternating_clip})
    cameras = {name: {"url": server.url(name)} for name in ("lobby", "gate")}
    with MosquittoBroker(persistent=True) as broker:
        config = pipeline_config(tmp_path, broker, cameras)
        operator = DurableSubscriber(broker, "vigil/alerts/#")
        watcher = AlertOutbox(outbox_path(config))  # reads beside the service, as the API does
        try:
            with running_vigil(config, model_cache_dir, reference):
                assert wait_until(lambda: len(operator.unique()) >= 2, timeout=60), "no alert before the outage"
                broker.stop()
                outage_started = time.monotonic()
                time.sleep(OUTAGE_S / 2)
            left_by_first = watcher.depth()  # Vigil was restarted in the middle of the outage...
            with running_vigil(config, model_cache_dir):  # ...and the new process reopened the outbox
                time.sleep(max(OUTAGE_S - (time.monotonic() - outage_started), 0.0))
                assert watcher.depth() > left_by_first, "the restarted Vigil raised no alert during the outage"
                broker.start()
                assert wait_until(lambda: watcher.depth() == 0, timeout=60), "the backlog was never acknowledged"
            produced, pending = produced_alerts(outbox_path(config))
            assert pending == 0
            assert wait_until(lambda: len(operator.unique()) >= len(produced), timeout=30)
        finally:
            watcher.close()
            operator.close()
    assert left_by_first >= 6
    assert operator.unique() == produced  # each alert_id + event exactly once after de-duplication, in order


def test_a_camera_recovers_from_each_of_20_rtsp_server_crashes_in_a_row(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory(seconds=2, fps=10, gop=5)})
    metrics = VigilMetrics()
    frames: list[float] = []
    threads_before, fds_before = threading.active_count(), len(os.listdir("/proc/self/fd"))
    worker = CameraWorker(
        "lobby",
        CameraConfig(url=server.url("cam"), reconnect=FAST_RECONNECT),
        lambda frame: frames.append(frame.received_at),
        lambda _status: None,
        metrics,
        rng=random.Random(6),
    )
    recovered: list[bool] = []

    def comes_back() -> bool:
        seen = len(frames)
        return wait_until(lambda: worker.status.state is CameraState.UP and len(frames) > seen, timeout=30)

    worker.start()
    try:
        for _ in range(CRASHES):
            recovered.append(comes_back())
            server.kill()  # SIGKILL: connections reset, no goodbye
            assert wait_until(lambda: worker.status.state is not CameraState.UP, timeout=30)
            server.start()  # the same port, like a camera that rebooted
        recovered.append(comes_back())
    finally:
        assert worker.stop(timeout=5)
    assert recovered == [True] * (CRASHES + 1)
    assert metrics.registry.get_sample_value("vigil_camera_reconnects_total", {"camera": "lobby"}) >= CRASHES
    assert worker.unexpected_errors == 0
    assert not worker.running and threading.active_count() <= threads_before  # nothing left running
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2  # no socket or file leaked per reconnect


@pytest.fixture
def flooding_pipeline(
    tmp_path: Path, mosquitto: MosquittoBroker, rtsp_server, clip_factory, alternating_clip: Path, reference: Path,
    model_cache_dir: Path,
) -> Iterator[tuple[Pipeline, VigilMetrics]]:  # fmt: skip
    flood = clip_factory(width=SIZE[0], height=SIZE[1], seconds=4, fps=25, gop=1, bframes=False)
    server = rtsp_server({"flood": flood, "lobby": alternating_clip, "gate": alternating_clip})
    cameras = {
        "flood": {"url": server.url("flood"), "sample": {"max_per_second": 60}},  # every frame is a keyframe
        "lobby": {"url": server.url("lobby")},
        "gate": {"url": server.url("gate")},
    }
    # A 200 ms batching window and 2-frame camera queues: the flood offers ~5 frames a window, the others at most 1.
    batch = {"max_batch": 16, "max_wait_ms": 200, "per_camera_queue": 2}
    metrics = VigilMetrics()
    config = pipeline_config(tmp_path, mosquitto, cameras, batch=batch)
    with running_vigil(config, model_cache_dir, reference, metrics) as pipeline:
        yield pipeline, metrics


def test_a_flooding_camera_sheds_its_own_frames_while_the_others_are_all_embedded(
    flooding_pipeline: tuple[Pipeline, VigilMetrics], mosquitto: MosquittoBroker
):
    _, metrics = flooding_pipeline
    recorder = Recorder(mosquitto.host, mosquitto.port, "vigil/alerts/#")

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    try:
        assert wait_until(
            lambda: min(value("vigil_keyframes_sampled_total", camera=c) for c in ("lobby", "gate")) >= 8, timeout=90
        )
        for camera in ("lobby", "gate"):  # their frames went all the way: embedded, matched, alerted
            recorder.wait_for(lambda m, c=camera: m.topic == f"vigil/alerts/{c}/anomaly", timeout=30)
    finally:
        recorder.close()
    assert value("vigil_frames_dropped_total", camera="flood", reason="backpressure") > 0
    for camera in ("lobby", "gate"):
        assert value("vigil_frames_dropped_total", camera=camera, reason="backpressure") == 0
    assert value("vigil_keyframes_sampled_total", camera="flood") > 5 * value(
        "vigil_keyframes_sampled_total", camera="lobby"
    )
