"""A real RTSP server on a loopback port for tests and the demo: ``gst_rtsp_serve.py`` as a child process.

GStreamer's RTSP server speaks the protocol the way cameras do (DESCRIBE/SETUP/PLAY, RTP over TCP, basic auth),
so the camera readers are tested against the real thing. The server runs under Debian's ``/usr/bin/python3``
because python3-gi is a system package; this wrapper owns its life cycle: start and wait for ``READY``, stop with
SIGTERM (kill after a timeout), kill like a crash, restart on the same port, freeze (SIGSTOP) to play a camera that
hangs with its connections open.

Example::

    with RtspTestServer({"lobby": clip}) as server:
        url = server.url("lobby")  # rtsp://127.0.0.1:PORT/lobby
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from streamer.devservices.errors import DevServiceError

SCRIPT = Path(__file__).with_name("gst_rtsp_serve.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspTestServer:
    """GStreamer's RTSP server serving MP4 clips (H.264) at ``rtsp://127.0.0.1:PORT/<mount>``, looping each clip.

    Args:
        mounts: mount name -> H.264 MP4 file.
        port: a fixed port; ``None`` lets the server pick a free one (kept across restarts).
        user: with ``password``, require RTSP basic auth.
        password: see ``user``.
        loop: restart clips at their end (a live camera never ends); ``False`` ends each session with the clip.
        ready_timeout_s: how long ``start`` waits for the server to listen.
        python: the interpreter that has python3-gi (Debian's, not a virtual environment's).
    """

    def __init__(
        self,
        mounts: Mapping[str, Path],
        port: int | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        loop: bool = True,
        ready_timeout_s: float = 20.0,
        python: str = SYSTEM_PYTHON,
    ) -> None:
        if not mounts:
            raise ValueError("RtspTestServer needs at least one mount")
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        for name, path in mounts.items():
            if not name.strip("/") or not Path(path).is_file():
                raise ValueError(f"mount {name!r}: needs a name and an existing clip, got {path}")
        self.mounts = {name.strip("/"): Path(path) for name, path in mounts.items()}
        self.user, self.password, self.loop = user, password, loop
        self.ready_timeout_s = ready_timeout_s
        self.python = python
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="vigil-rtsp-")
        self._log_path = Path(self._log_dir.name) / "server.log"

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._port is None:
            raise DevServiceError("the RTSP test server has not been started yet")
        return self._port

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, mount: str, *, credentials: bool = True) -> str:
        """``rtsp://[user:password@]127.0.0.1:PORT/mount``; credentials only when the server has them and asked."""
        userinfo = ""
        if credentials and self.user is not None and self.password is not None:
            userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/{mount.strip('/')}"

    def start(self) -> RtspTestServer:
        """Start the server and wait until it listens.

        Raises:
            DevServiceError: the interpreter lacks python3-gi, the port is taken, or it was not ready in time.
        """
        if self.running:
            return self
        command = [self.python, str(SCRIPT), "--port", str(self._port or 0)]
        if self.user is not None and self.password is not None:
            command += ["--user", self.user, "--password", self.password]
        if not self.loop:
            command.append("--no-loop")
        command += [f"{name}={path.resolve()}" for name, path in self.mounts.items()]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        with self._log_path.open("ab") as log:
            # stdin stays open and unused: the server quits when it reads EOF, i.e. when this process dies.
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True
            )
        self._port = self._wait_ready(self._process)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a frozen server cannot handle SIGTERM
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        self._close(process)

    def kill(self) -> None:
        """SIGKILL, like a crash or a power cut: clients see their connections reset, nothing is said goodbye."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._close(process)

    def restart(self) -> RtspTestServer:
        """Stop (if running) and start again on the same port, as a rebooted camera would come back."""
        self.stop()
        return self.start()

    def freeze(self) -> None:
        """SIGSTOP: the server stops sending but its connections stay open, so a client's read hangs."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: undo ``freeze``."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        """What the server wrote to stderr so far (GStreamer warnings, errors), for failure messages."""
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def close(self) -> None:
        """Stop the server and delete its log."""
        self.stop()
        self._log_dir.cleanup()

    def __enter__(self) -> RtspTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> int:
        """Read the ``READY <port>`` line; on exit or timeout kill the child and raise with its stderr."""
        assert process.stdout is not None
        deadline = time.monotonic() + self.ready_timeout_s
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([process.stdout], [], [], max(remaining, 0))
            chunk = os.read(process.stdout.fileno(), 256) if readable else b""
            if not chunk:  # timeout, or EOF because the server exited
                reason = "exited" if readable else f"was not ready after {self.ready_timeout_s:.0f} s"
                self.kill()
                raise DevServiceError(f"RTSP test server {reason}: {self.log_text()[-2000:]}")
            line += chunk
        word, _, port = line.decode().strip().partition(" ")
        if word != "READY" or not port.isdigit():
            self.kill()
            raise DevServiceError(f"RTSP test server said {line!r} instead of READY <port>")
        return int(port)

    def _close(self, process: subprocess.Popen[bytes]) -> None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self._process = None
