"""The metrics registry: Vigil's own series plus the standard process metrics, and no ``*_created`` series."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streamer.metrics import VigilMetrics


def test_the_exposition_has_process_metrics_and_no_created_series() -> None:
    metrics = VigilMetrics()
    metrics.alerts_published.labels(kind="face", event="open", camera="lobby").inc()
    samples = {
        s.name for family in text_string_to_metric_families(metrics.exposition().decode()) for s in family.samples
    }

    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= samples
    assert "vigil_alerts_published_total" in samples
    assert not [name for name in samples if name.endswith("_created")]


def test_the_camera_label_takes_only_configured_names_and_starts_at_zero() -> None:
    metrics = VigilMetrics(cameras=["lobby", "gate"])
    value = metrics.registry.get_sample_value

    labels = [metrics.camera(name) for name in ("lobby", "gate", "lobbby", "rtsp://x")]

    assert labels == ["lobby", "gate", "other", "other"]
    assert value("vigil_alerts_published_total", {"kind": "face", "event": "open", "camera": "gate"}) == 0
    assert value("vigil_matches_total", {"kind": "anomaly", "camera": "lobby"}) == 0
