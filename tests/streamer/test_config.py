"""Configuration: validated up front, errors name the field, env overrides, secrets from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.config import load_config
from streamer.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_text", "expected_in_message"),
    [
        ("node_id: n\nbogus: 1\n", "bogus: unknown field"),
        ("mqtt: {port: not-a-number}\n", "mqtt.port"),
        ("mqtt: {prot: 1883}\n", "mqtt.prot: unknown field"),
        ("cameras: {lobby: {url: rtsp://h/s, sample: {max_per_second: -1}}}\n", "cameras.lobby.sample.max_per_second"),
        ("cameras: {lobby: {url: /no/such/clip.mp4}}\n", "file not found: /no/such/clip.mp4"),
        ("mqtt: {password_file: /no/such/secret}\n", "mqtt.password_file"),
        ("alerts: {vote_hits: 5, vote_window: 3}\n", "vote_hits (5) must not exceed vote_window (3)"),
        ("cameras: {'a/b': {url: rtsp://h/s}}\n", "single MQTT topic level"),
        ("- just\n- a list\n", "mapping at the top level"),
        ("mqtt: {host: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_config_is_refused_with_the_field_named(tmp_path: Path, yaml_text: str, expected_in_message: str):
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, yaml_text), environ={})
    assert expected_in_message in str(excinfo.value)
    assert excinfo.value.exit_code == 2


def test_a_missing_config_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_environment_overrides_nested_fields(tmp_path: Path):
    path = write(tmp_path, "mqtt: {host: from-file, port: 1883}\n")
    config = load_config(
        path,
        environ={
            "VIGIL_MQTT__HOST": "broker.local",
            "VIGIL_MQTT__PORT": "8883",
            "VIGIL_CACHE_DIR": "/ignored/not/config",
        },
    )
    assert (config.mqtt.host, config.mqtt.port) == ("broker.local", 8883)


def test_a_wrong_environment_value_names_the_field(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"mqtt\.port"):
        load_config(write(tmp_path, "{}\n"), environ={"VIGIL_MQTT__PORT": "eighty"})


def test_the_password_is_read_from_its_file_not_the_yaml(tmp_path: Path):
    secret = tmp_path / "mqtt.pass"
    secret.write_text("s3cret\n")
    config = load_config(write(tmp_path, f"mqtt: {{username: vigil, password_file: {secret}}}\n"), environ={})
    assert config.mqtt.password() == "s3cret"
    assert "s3cret" not in config.model_dump_json()


def test_defaults_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.cameras == {}
    assert config.mqtt.topic_prefix == "vigil"
    assert config.watchlist.database == "data/watchlist.db"


@pytest.mark.parametrize(("cores", "threads", "expected"), [(2, 0, 1), (1, 0, 1), (16, 0, 8), (2, 2, 2), (16, 1, 1)])
def test_models_threads_0_gives_each_network_half_the_cores(monkeypatch, cores, threads, expected):
    """The scene and face networks run side by side: half the cores each (measured: 1 each on 2 cores is best)."""
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    from streamer.config import ModelsConfig

    assert ModelsConfig(threads=threads).backend_options().threads == expected
