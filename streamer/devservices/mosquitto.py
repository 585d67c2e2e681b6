"""A real mosquitto broker on a free loopback port, for the demo and the tests.

It writes its own config (listener, optional password file and TLS) into a private folder, so it never touches a
system broker, and it can be stopped and started again on the same port to simulate an outage.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class BrokerTls:
    """Server-side TLS material for the broker (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


class MosquittoBroker:
    """Runs ``mosquitto`` as a child process.

    Args:
        port: listening port (default: a free one, kept across restarts).
        username, password: when given, anonymous access is off and these credentials are required.
        tls: when given, the listener speaks TLS only.
        persistent: keep retained messages, subscriptions of persistent sessions and their queued messages across
            a stop and start (saved on SIGTERM), as a production broker does.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: BrokerTls | None = None,
        persistent: bool = False,
    ) -> None:
        if shutil.which(MOSQUITTO) is None and not Path(MOSQUITTO).exists():
            raise FileNotFoundError(f"{MOSQUITTO} not found: run deploy/bootstrap.sh (installs Debian's mosquitto)")
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = Path(tempfile.mkdtemp(prefix="vigil-mosquitto-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = self._dir / "mosquitto.log"
        self._write_config(username, password, tls, persistent)

    def _write_config(
        self, username: str | None, password: str | None, tls: BrokerTls | None, persistent: bool
    ) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"persistence {'true' if persistent else 'false'}",
            f"persistence_location {self._dir}/",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to its own user and cannot read our private folder
        if username is not None:
            passwd = self._dir / "passwd"
            passwd.touch(mode=0o600)
            subprocess.run(
                [MOSQUITTO_PASSWD, "-b", str(passwd), username, password or ""], check=True, capture_output=True
            )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            lines += [f"cafile {tls.ca_file}", f"certfile {tls.cert_file}", f"keyfile {tls.key_file}"]
        (self._dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        """Start and wait until the port accepts connections."""
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self._dir / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                log_text = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self._process.returncode}: {err}{log_text}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate (SIGTERM, then SIGKILL); the port stays reserved for a restart."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop and remove the private folder."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
