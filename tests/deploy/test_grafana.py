"""The Grafana dashboard and its provisioning: well-formed, over exactly Vigil's metrics, wired to the compose stack.

Its queries are executed against a real Prometheus in ``test_monitoring.py``.
"""

from __future__ import annotations

import re

import pytest

from streamer.metrics import VigilMetrics
from tests.deploy.shipped import DEPLOY, dashboard, dashboard_queries, load_yaml, metric_families


def panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def test_panel_ids_are_unique_and_every_panel_fits_the_grid():
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_panel_queries_the_selected_prometheus_and_has_a_description():
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["description"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_dashboard_shows_exactly_the_metrics_vigil_exports():
    exported = {family.name for family in VigilMetrics().registry.collect()}
    shown = set().union(*(metric_families(query.expr) for query in dashboard_queries()))
    assert shown == exported


def test_the_issue_asks_for_these_views():
    titles = {panel["title"] for panel in panels()}
    assert {
        "Stream health",
        "Keyframes sampled / s",
        "Inference latency",
        "Batch size",
        "Matches / s",
        "Alerts published (per 5 min)",
        "MQTT outbox depth",
        "Alert latency (frame to broker ack)",
    } <= titles


def test_every_query_filters_by_the_node_variable():
    for query in dashboard_queries():
        assert 'instance=~"$instance"' in query.expr, query


def test_the_provisioned_datasource_is_the_dashboards_default_and_the_compose_prometheus():
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    variable = next(v for v in dashboard()["templating"]["list"] if v["name"] == "datasource")
    assert variable["current"]["value"] == datasource["uid"]
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]


def test_the_dashboard_provider_reads_the_folder_compose_mounts():
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "vigil.yml")["providers"][0]
    volumes = load_yaml(DEPLOY / "docker-compose.yml")["services"]["grafana"]["volumes"]
    mounts = dict(volume.split(":")[:2] for volume in volumes)
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert (DEPLOY / "grafana" / "dashboards" / "vigil.json").is_file()


def test_the_dashboard_shows_times_in_the_viewers_time_zone():
    assert dashboard()["timezone"] == "browser"


@pytest.mark.parametrize("metric", ["vigil_matches_total", "vigil_alerts_published_total"])
def test_matches_and_alerts_follow_the_camera_selector(metric: str):
    queries = [q for q in dashboard_queries() if metric in q.expr]
    assert queries
    for query in queries:
        grouping = re.search(r"by \(([^)]*)\)", query.expr)
        assert 'camera=~"$camera"' in query.expr and grouping and "camera" in grouping.group(1).split(", "), query
