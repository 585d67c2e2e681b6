"""docker-compose files: valid against the Compose specification, every mounted file present, services wired to
each other the way their configs say (Docker does not run on these machines, so this is what can be checked)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.config import VigilConfig
from tests.deploy.shipped import DEPLOY, REPO, RULES, load_yaml

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml", "docker-compose.postgres.yml"]
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"  # Debian's prometheus-alertmanager (deploy/bootstrap.sh)
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def shipped_rules() -> list[dict]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


def bind_mounts(service: dict) -> dict[str, str]:
    """Host path (relative to deploy/) -> container path, for the ``./...`` volumes of a service."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[source] = target
    return mounts


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_the_compose_file_validates_against_the_compose_specification(name: str):
    checked = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_build_context_dockerfile_and_bind_mount_exists(name: str):
    for service_name, service in load_yaml(DEPLOY / name)["services"].items():
        build = service.get("build")
        if build is not None:
            context = (DEPLOY / build["context"]).resolve()
            assert context == REPO and (context / build["dockerfile"]).is_file(), service_name
        for source in bind_mounts(service):
            assert (DEPLOY / source).exists(), f"{service_name} mounts missing {source}"


def test_the_stack_has_vigil_an_authenticating_broker_prometheus_alertmanager_and_grafana():
    services = compose()["services"]
    assert set(services) == {"vigil", "mosquitto", "prometheus", "alertmanager", "grafana"}
    broker_config = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in broker_config
    assert services["vigil"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    for service in services.values():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), image  # pinned, reproducible


def test_every_secret_is_a_file_the_operator_is_told_to_create_and_git_ignores():
    secrets_readme = (DEPLOY / "secrets" / "README.md").read_text()
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()
    for name, secret in compose()["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == Path("secrets"), name
        assert f"secrets/{path.name}" in secrets_readme, name
        assert "*" in ignored and f"!{path.name}" not in ignored


def test_vigils_compose_config_is_valid_and_points_at_the_stack(tmp_path: Path):
    services = compose()["services"]
    mounts = bind_mounts(services["vigil"])
    config_in_container = mounts["./vigil/vigil.yaml"]
    assert config_in_container in services["vigil"]["command"]
    raw = load_yaml(DEPLOY / "vigil" / "vigil.yaml")
    secret_path = raw["mqtt"]["password_file"]
    assert secret_path == f"/run/secrets/{services['vigil']['secrets'][0]}"
    assert raw["api"]["bootstrap_token_file"] in {f"/run/secrets/{name}" for name in services["vigil"]["secrets"]}
    (tmp_path / "password").write_text("x")  # the secrets exist only inside the container
    config = VigilConfig.model_validate(
        {
            **raw,
            "mqtt": {**raw["mqtt"], "password_file": str(tmp_path / "password")},
            "api": {**raw["api"], "bootstrap_token_file": str(tmp_path / "password")},
        }
    )
    assert config.mqtt.host == "mosquitto" and config.mqtt.username == "vigil"
    assert "listener 1883" in (DEPLOY / "mosquitto" / "mosquitto.conf").read_text() and config.mqtt.port == 1883
    assert f"{config.metrics.port}:{config.metrics.port}" in services["vigil"]["ports"]
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    vigil_job = next(job for job in scrape if job["job_name"] == "vigil")
    assert vigil_job["static_configs"][0]["targets"] == [f"vigil:{config.metrics.port}"]


def test_prometheus_sends_its_alerts_to_the_stacks_alertmanager():
    services = compose()["services"]
    alertmanager = services["alertmanager"]
    config_in_container = bind_mounts(alertmanager)["./alertmanager/alertmanager.yml"]
    assert f"--config.file={config_in_container}" in alertmanager["command"]
    targets = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["alerting"]["alertmanagers"][0]["static_configs"]
    assert targets[0]["targets"] == ["alertmanager:9093"] and "9093:9093" in alertmanager["ports"]


def test_amtool_accepts_the_shipped_alertmanager_config():
    checked = subprocess.run(
        [AMTOOL, "check-config", str(ALERTMANAGER_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("rule", shipped_rules(), ids=lambda rule: rule["alert"])
def test_every_shipped_alert_reaches_a_receiver(rule: dict):
    labels = {"alertname": rule["alert"], **rule["labels"], "instance": "vigil:9108", "camera": "lobby"}
    routed = subprocess.run(
        [
            AMTOOL,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert routed.returncode == 0, routed.stdout + routed.stderr
    assert routed.stdout.split() == ["operators"]


def test_a_down_node_inhibits_its_other_alerts_but_not_another_nodes():
    inhibit = load_yaml(ALERTMANAGER_CONFIG)["inhibit_rules"][0]
    others = [rule["alert"] for rule in shipped_rules() if rule["alert"] != "VigilNodeDown"]
    assert inhibit["source_matchers"] == ['alertname="VigilNodeDown"'] and inhibit["equal"] == ["instance"]
    pattern = re.fullmatch(r'alertname=~"(.*)"', inhibit["target_matchers"][0]).group(1)
    assert sorted(pattern.split("|")) == sorted(others)
