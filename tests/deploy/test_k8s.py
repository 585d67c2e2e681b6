"""Kubernetes manifests: valid against Kubernetes' own schemas (strict), referencing only ConfigMaps, Secrets, keys,
ports and Services that exist, with one valid Vigil config per node and every camera on exactly one node."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from streamer.config import VigilConfig
from tests.deploy.shipped import DEPLOY, load_yaml, load_yaml_documents

K8S = DEPLOY / "k8s"
MANIFESTS = sorted(path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")
KUBERNETES_VERSION = "1.30.0"


def resources() -> list[dict]:
    return [doc for name in MANIFESTS for doc in load_yaml_documents(K8S / name)]


def find(kind: str, name: str) -> dict:
    matches = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} definitions"
    return matches[0]


def workloads() -> list[dict]:
    return [r for r in resources() if r["kind"] in ("StatefulSet", "Deployment")]


def config_map_data(name: str) -> dict[str, str]:
    return find("ConfigMap", name)["data"]


def documented_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, as the README's ``kubectl create secret generic NAME --from-file=KEY=...`` steps make
    them (the manifests ship no Secret, so these commands are the only source of the keys the pods mount)."""
    text = (K8S / "README.md").read_text().replace("\\\n", " ")
    return {
        name: set(re.findall(r"--from-file=([\w.-]+)=", options))
        for name, options in re.findall(r"kubectl -n vigil create secret generic ([\w-]+)([^\n]*)", text)
    }


def secret_keys(name: str) -> set[str]:
    assert name in documented_secrets(), f"the README never tells how to create Secret {name}"
    return documented_secrets()[name]


def test_no_manifest_ships_a_secret_that_apply_would_overwrite_real_ones_with():
    # kubectl apply -k after the README's kubectl create secret steps must keep the operator's passwords.
    assert [r["metadata"]["name"] for r in resources() if r["kind"] == "Secret"] == []
    assert set(documented_secrets()) == {"vigil-mqtt", "vigil-postgres", "vigil-api"}


@pytest.mark.parametrize("resource", [pytest.param(r, id=f"{r['kind']}/{r['metadata']['name']}") for r in resources()])
def test_each_resource_validates_strictly_against_the_kubernetes_schema(resource: dict):
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_kustomize_applies_every_manifest_into_the_vigil_namespace():
    kustomization = load_yaml(K8S / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == MANIFESTS
    assert {r["metadata"].get("namespace", "vigil") for r in resources()} == {"vigil"}


def test_volumes_reference_existing_config_maps_secrets_and_keys():
    for workload in workloads():
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                keys, items = set(config_map_data(volume["configMap"]["name"])), volume["configMap"].get("items", [])
            elif "secret" in volume:
                keys, items = secret_keys(volume["secret"]["secretName"]), volume["secret"].get("items", [])
            else:
                continue
            assert {item["key"] for item in items} <= keys, volume["name"]


def test_mounts_subpaths_probes_and_services_match_what_the_pods_declare():
    for workload in workloads():
        pod = workload["spec"]["template"]
        volume_names = {v["name"] for v in pod["spec"]["volumes"]} | {
            t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
        }
        for container in pod["spec"]["containers"]:
            ports = {p["name"] for p in container["ports"]}
            for mount in container["volumeMounts"]:
                assert mount["name"] in volume_names, mount
            for probe in ("readinessProbe", "livenessProbe"):
                action = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get("tcpSocket")
                assert action is None or action["port"] in ports, (container["name"], probe)
        service = find("Service", workload["spec"]["serviceName"])
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert workload["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        declared = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= declared


def node_configs(tmp_path: Path) -> dict[str, VigilConfig]:
    """Each vigil-N.yaml of the ConfigMap, validated as Vigil would (the secret file exists only in the pod)."""
    password = tmp_path / "password"
    password.write_text("x")
    configs = {}
    for key, text in config_map_data("vigil-config").items():
        raw = yaml.safe_load(text)
        raw["mqtt"]["password_file"] = str(password)
        raw["api"]["bootstrap_token_file"] = str(password)
        configs[key] = VigilConfig.model_validate(raw)
    return configs


def test_every_node_has_a_valid_config_and_every_camera_is_on_exactly_one_node(tmp_path: Path):
    vigil = find("StatefulSet", "vigil")
    configs = node_configs(tmp_path)
    assert sorted(configs) == [f"vigil-{n}.yaml" for n in range(vigil["spec"]["replicas"])]
    cameras = [camera for config in configs.values() for camera in config.cameras]
    assert cameras and len(cameras) == len(set(cameras))
    for key, config in configs.items():
        assert config.node_id == key.removesuffix(".yaml")


def test_a_pod_reads_its_own_config_and_its_password_from_the_secret_and_reaches_the_broker(tmp_path: Path):
    vigil = find("StatefulSet", "vigil")
    container = vigil["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert f"{mounts['config']}/$(POD_NAME).yaml" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["VIGIL_NODE_ID"]["value"] == "$(POD_NAME)"
    assert container["args"][container["args"].index("--config") + 1] == env["VIGIL_CONFIG"]["value"]
    password_item = next(v for v in vigil["spec"]["template"]["spec"]["volumes"] if v["name"] == "mqtt-password")
    password_path = f"{mounts['mqtt-password']}/{password_item['secret']['items'][0]['path']}"
    token_item = next(v for v in vigil["spec"]["template"]["spec"]["volumes"] if v["name"] == "api-token")
    token_path = f"{mounts['api-token']}/{token_item['secret']['items'][0]['path']}"
    broker = find("Service", "mosquitto")
    for text in config_map_data("vigil-config").values():
        raw = yaml.safe_load(text)
        assert raw["mqtt"]["password_file"] == password_path
        assert raw["api"]["bootstrap_token_file"] == token_path
        assert (raw["mqtt"]["host"], raw["mqtt"]["port"]) == ("mosquitto", broker["spec"]["ports"][0]["port"])
        assert raw["metrics"]["port"] == next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")


def test_the_brokers_config_map_holds_exactly_the_files_of_deploy_mosquitto():
    data = config_map_data("mosquitto-config")
    for name, text in data.items():
        assert text == (DEPLOY / "mosquitto" / name).read_text(), f"{name} differs from deploy/mosquitto/{name}"


def test_the_headless_service_is_what_prometheus_discovers():
    service = find("Service", "vigil-metrics")
    assert service["spec"]["clusterIP"] == "None"
    names = load_yaml(DEPLOY / "prometheus" / "prometheus-k8s.yml")["scrape_configs"][0]["dns_sd_configs"][0]["names"]
    metadata = service["metadata"]
    assert names == [f"_metrics._tcp.{metadata['name']}.{metadata['namespace']}.svc.cluster.local"]
    assert "metrics" in {port["name"] for port in service["spec"]["ports"]}
