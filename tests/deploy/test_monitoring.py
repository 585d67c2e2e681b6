"""A real Prometheus scrapes a real running Vigil through the shipped scrape config, evaluates the shipped alert
rules, and answers every query of the shipped Grafana dashboard with data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from streamer.config import VigilConfig
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.devservices.mosquitto import MosquittoBroker, free_port
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.metrics import VigilMetrics
from streamer.pipeline import Pipeline
from streamer.service import build_pipeline
from tests.deploy.prometheus_server import PrometheusServer
from tests.deploy.shipped import DEPLOY, RULES, DashboardQuery, dashboard_queries, load_yaml
from tests.fixtures.rtsp import wait_until
from watchlists.enroll import Enroller

RATE_INTERVAL = "15s"  # what Grafana's $__rate_interval becomes with the test's 1 s scrape interval
FAST_RECONNECT = {"initial_s": 0.2, "max_s": 1.0, "open_timeout_s": 2.0}


@dataclass
class Monitored:
    """Vigil (one camera streaming, one unreachable) under a Prometheus that scrapes it every second."""

    prometheus: PrometheusServer
    metrics: VigilMetrics
    pipeline: Pipeline
    metrics_port: int


def scrape_config(metrics_port: int, prometheus_port: int) -> dict:
    """The shipped prometheus.yml, pointed at this Vigil and sped up: every job, label and rule file kept."""
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str((DEPLOY / "prometheus" / name).resolve()) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        port = metrics_port if job["job_name"] == "vigil" else prometheus_port
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    return config


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory, clip_factory, model_cache_dir: Path) -> Iterator[Monitored]:
    tmp = tmp_path_factory.mktemp("monitoring")
    match, other = letterbox(photo("astronaut"), (640, 360), 1.0), letterbox(photo("coffee"), (640, 360), 1.0)
    clip = clip_factory.scenes("alternating-640", [(match, 1.0), (other, 1.0)] * 5, ClipEncoding(fps=10, gop=10))
    reference = tmp / "astronaut-crop.png"
    cv2.imwrite(str(reference), cv2.cvtColor(photo("astronaut")[20:380, 80:440], cv2.COLOR_RGB2BGR))
    with MosquittoBroker() as broker, RtspTestServer({"lobby": clip}) as rtsp:
        config = VigilConfig.model_validate(
            {
                "node_id": "monitored",
                "cameras": {
                    "lobby": {"url": rtsp.url("lobby"), "reconnect": FAST_RECONNECT},
                    "gate": {"url": f"rtsp://127.0.0.1:{free_port()}/unplugged", "reconnect": FAST_RECONNECT},
                },
                "models": {"cache_dir": str(model_cache_dir), "threads": 2},
                "watchlist": {"database": str(tmp / "watchlist.db")},
                "mqtt": {"host": broker.host, "port": broker.port},
                "alerts": {"vote_hits": 1, "vote_window": 1, "close_after_s": 0.5, "cooldown_s": 0},
                "storage": {"snapshots": str(tmp / "snapshots")},
            }
        )
        metrics = VigilMetrics(cameras=config.cameras)  # as the service makes it
        pipeline, store = build_pipeline(config, metrics=metrics)
        Enroller(store, pipeline.embedder, show_progress=False).enroll(
            "anomaly", "Astronaut", [reference], actor="test", threshold=0.72
        )
        metrics_port = metrics.serve("127.0.0.1", 0)
        pipeline.start()
        prometheus_port = free_port()
        prometheus = PrometheusServer(scrape_config(metrics_port, prometheus_port), prometheus_port)
        try:
            prometheus.start()
            has_data = wait_until(
                lambda: (
                    prometheus.query('vigil_alert_latency_seconds_count{job="vigil"} > 0')
                    and prometheus.query(f"rate(vigil_inference_seconds_count[{RATE_INTERVAL}]) > 0")
                ),
                timeout=90,
                interval=0.5,
            )
            assert has_data, f"Prometheus never saw an alert from Vigil: {prometheus.log_text()}"
            yield Monitored(prometheus, metrics, pipeline, metrics_port)
        finally:
            prometheus.close()
            pipeline.stop()
            store.close()
            metrics.close()


def test_prometheus_scrapes_vigil_with_the_shipped_scrape_config(monitored: Monitored):
    targets = monitored.prometheus.api("targets")["activeTargets"]
    vigil = [t for t in targets if t["labels"]["job"] == "vigil"]
    assert [t["health"] for t in vigil] == ["up"], vigil
    assert vigil[0]["scrapeUrl"] == f"http://127.0.0.1:{monitored.metrics_port}/metrics"


def test_every_shipped_alert_rule_loads_and_evaluates_against_real_vigil_metrics(monitored: Monitored):
    shipped = [rule["alert"] for group in load_yaml(RULES)["groups"] for rule in group["rules"]]

    def evaluated() -> list[dict]:
        groups = monitored.prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if all(rule.get("lastEvaluation", "").startswith("2") for rule in rules) else []

    assert wait_until(lambda: evaluated(), timeout=30)
    rules = evaluated()
    assert sorted(rule["name"] for rule in rules) == sorted(shipped)
    for rule in rules:
        assert (rule["health"], rule.get("lastError", "")) == ("ok", ""), rule


def test_the_camera_down_rule_catches_the_unreachable_camera_and_only_it(monitored: Monitored):
    def camera_down_alerts() -> list[dict]:
        alerts = monitored.prometheus.api("alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "VigilCameraDown"]

    assert wait_until(lambda: camera_down_alerts(), timeout=30)
    assert [(a["labels"]["camera"], a["state"]) for a in camera_down_alerts()] == [("gate", "pending")]  # for: 2m
    firing = {a["labels"]["alertname"] for a in monitored.prometheus.api("alerts")["alerts"] if a["state"] == "firing"}
    assert firing == set()  # a healthy node with an idle outbox and fast inference alerts on nothing


def test_the_dashboard_variables_list_the_node_and_its_cameras(monitored: Monitored):
    nodes = monitored.prometheus.api("label/instance/values", **{"match[]": "vigil_build_info"})
    cameras = monitored.prometheus.api("label/camera/values", **{"match[]": "vigil_camera_up"})
    assert nodes == [f"127.0.0.1:{monitored.metrics_port}"]
    assert sorted(cameras) == ["gate", "lobby"]


def values(result: list[dict]) -> list[float]:
    return [float(sample["value"][1]) for sample in result]


def positive(result: list[dict]) -> bool:
    return any(v > 0 and math.isfinite(v) for v in values(result))


# What the running pipeline (one camera streaming, one unreachable, an alert every 2 s) must show, per panel.
EXPECTED: dict[str, Callable[[list[dict]], bool]] = {  # by panel, or "panel [refId]" for one of its targets
    "Cameras up": lambda r: values(r) == [1.0],
    "Cameras down": lambda r: values(r) == [1.0],
    "Stream health": lambda r: (
        sorted((s["metric"]["camera"], float(s["value"][1])) for s in r) == [("gate", 0.0), ("lobby", 1.0)]
    ),
    "Frames decoded / s": positive,
    "Keyframes sampled / s": positive,
    "Keyframes sampled / s [B]": bool,  # unchanged keyframes: a series per camera from 0, positive on a still scene
    "Inference latency": positive,
    "Batch size": positive,
    "Frames embedded / s": positive,
    "Watchlist search latency": positive,
    "Watchlist entries": lambda r: {s["metric"]["kind"]: float(s["value"][1]) for s in r} == {"face": 0, "anomaly": 1},
    "Matches / s": positive,
    "Alerts published (per 5 min)": positive,
    "Alert latency (frame to broker ack)": positive,
    "Nodes": lambda r: [s["metric"]["backend"] for s in r] == ["onnxruntime"],
}


@pytest.mark.parametrize("query", dashboard_queries(), ids=str)
def test_every_dashboard_query_answers_with_data(monitored: Monitored, query: DashboardQuery):
    expr = query.as_prometheus_sees_it(RATE_INTERVAL)
    check = EXPECTED.get(str(query), EXPECTED.get(query.panel, bool))
    answers: list[list[dict]] = []

    def answered_as_expected() -> bool:
        answers.append(monitored.prometheus.query(expr))  # raises on a PromQL error
        return check(answers[-1])

    # A live camera can pause for a moment (a loaded machine, the clip looping): ask again rather than fail on one
    # unlucky instant; the timeout is a guard, not a speed requirement.
    settled = wait_until(answered_as_expected, timeout=30, interval=1.0)
    assert answers[-1], f"no data for {expr}"
    assert settled, f"{query}: unexpected {[(s['metric'], s['value'][1]) for s in answers[-1]]}"
