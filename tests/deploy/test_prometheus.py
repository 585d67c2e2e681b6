"""The shipped Prometheus configs and alert rules, checked by promtool; the rules' own unit tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streamer.metrics import VigilMetrics
from tests.deploy.prometheus_server import PROMTOOL
from tests.deploy.shipped import DEPLOY, RULES, load_yaml, metric_families


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=DEPLOY)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_promtool_accepts_each_scrape_config_and_the_rules_it_loads(config: str):
    checked = promtool("check", "config", DEPLOY / "prometheus" / config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr


def test_promtool_accepts_the_rules():
    checked = promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_pass_their_unit_tests():
    tested = promtool("test", "rules", DEPLOY / "prometheus" / "rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_required_alerts_exist_and_each_has_a_unit_test():
    rules = [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {"VigilCameraDown", "VigilMqttOutboxGrowing", "VigilInferenceSlow", "VigilOutboxWriteFailing"} <= names
    unit_tests = load_yaml(DEPLOY / "prometheus" / "rules.test.yml")["tests"]
    tested = {case["alertname"] for test in unit_tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == names  # every rule is shown firing at least once
    for rule in rules:
        assert {"summary", "description"} <= set(rule["annotations"]) and rule["labels"]["severity"]


def test_the_rules_use_only_metrics_vigil_exports():
    exported = {family.name for family in VigilMetrics().registry.collect()}
    assert metric_families(RULES.read_text()) <= exported
