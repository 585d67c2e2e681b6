"""docker-compose files: valid against the Compose specification, every mounted file present, services wired to
each other the way their configs say (Docker does not run on these machines, so this is what can be checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamer.config import VigilConfig
from tests.deploy.shipped import DEPLOY, REPO, load_yaml

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml", "docker-compose.postgres.yml"]
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


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


def test_the_stack_has_vigil_an_authenticating_broker_prometheus_and_grafana():
    services = compose()["services"]
    assert set(services) == {"vigil", "mosquitto", "prometheus", "grafana"}
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
    (tmp_path / "password").write_text("x")  # the secret exists only inside the container
    config = VigilConfig.model_validate({**raw, "mqtt": {**raw["mqtt"], "password_file": str(tmp_path / "password")}})
    assert config.mqtt.host == "mosquitto" and config.mqtt.username == "vigil"
    assert "listener 1883" in (DEPLOY / "mosquitto" / "mosquitto.conf").read_text() and config.mqtt.port == 1883
    assert f"{config.metrics.port}:{config.metrics.port}" in services["vigil"]["ports"]
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    vigil_job = next(job for job in scrape if job["job_name"] == "vigil")
    assert vigil_job["static_configs"][0]["targets"] == [f"vigil:{config.metrics.port}"]
