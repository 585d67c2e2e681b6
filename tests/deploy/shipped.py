"""What ``deploy/`` ships, read and parsed once for the tests of this folder."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vigil.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC_NAME = re.compile(r"\b(?:vigil|process)_[a-z_]+")
SAMPLE_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_info", "_created")


@dataclass(frozen=True)
class DashboardQuery:
    """One PromQL query of the Grafana dashboard: which panel it draws and the expression."""

    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.panel} [{self.ref_id}]"

    def as_prometheus_sees_it(self, rate_interval: str, instance: str = ".*", camera: str = ".*") -> str:
        """The expression after Grafana's variable substitution (``All`` selects every node and camera)."""
        return (
            self.expr.replace("$__rate_interval", rate_interval)
            .replace("$instance", instance)
            .replace("$camera", camera)
        )


@cache
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[DashboardQuery]:
    """Every target of every panel (rows hold no queries)."""
    return [
        DashboardQuery(panel["title"], target["refId"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def metric_families(text: str) -> set[str]:
    """Vigil metric families named in PromQL or a rule (``vigil_inference_seconds_bucket`` -> ``..._seconds``)."""
    families = set()
    for name in METRIC_NAME.findall(text):
        for suffix in SAMPLE_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        families.add(name)
    return families
