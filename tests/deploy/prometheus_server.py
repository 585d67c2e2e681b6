"""A real Prometheus (Debian's ``prometheus`` package) on a free loopback port, for tests of rules and dashboards.

It runs with a generated configuration in a private folder and is queried through its HTTP API, exactly as Grafana
queries it: ``/api/v1/query`` for instant queries, ``/api/v1/rules`` and ``/api/v1/alerts`` for rule state.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from streamer.devservices.mosquitto import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class PrometheusServer:
    """Runs ``prometheus`` with ``config`` (a parsed prometheus.yml) until ``close``.

    Args:
        config: the configuration to run; rule file paths in it must be absolute.
        port: where to listen (default: a free port); known before start, so a config can scrape Prometheus itself.
    """

    def __init__(self, config: dict[str, Any], port: int | None = None) -> None:
        if not Path(PROMETHEUS).exists():
            raise FileNotFoundError(f"{PROMETHEUS} not found: run deploy/bootstrap.sh (installs Debian's prometheus)")
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="vigil-prometheus-"))
        self.config_path = self._dir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._log = (self._dir / "prometheus.log").open("wb")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        """Start and wait until ``/-/ready`` answers 200."""
        self._process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._process.returncode}: {self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.close()
        raise TimeoutError(f"prometheus was not ready within {timeout}s")

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``: the ``data`` of a successful answer (AssertionError with the error otherwise)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query (as Grafana's "instant" or the last point of a range); returns the result vector."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]

    def log_text(self) -> str:
        self._log.flush()
        return (self._dir / "prometheus.log").read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)
